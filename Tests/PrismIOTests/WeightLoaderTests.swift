import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
import XCTest

final class WeightLoaderTests: XCTestCase {
    func testReportsEveryProblemAtOnce() throws {
        let dir = temporaryDirectory()
        try SafetensorsWriter.write(to: dir.appendingPathComponent("model.safetensors"), tensors: [
            ("model.a.weight", Tensor(zeros: [2, 3])),
            ("model.b.weight", Tensor(zeros: [4])),
            ("model.extra", Tensor(zeros: [1])),
            ("model.rotary_emb.inv_freq", Tensor(zeros: [2])),
        ])
        let loader = WeightLoader(try Checkpoint(directory: dir)) { name in
            name.hasSuffix("rotary_emb.inv_freq") ? nil : String(name.dropFirst("model.".count))
        }
        let scope = loader.scope("a")
        XCTAssertEqual(scope.tensor("weight", [2, 3]).shape, [2, 3])
        XCTAssertEqual(loader.scope("b").tensor("weight", [5]).shape, [5], "a mis-shaped tensor yields a placeholder")
        _ = loader.scope("c").float("weight", [1])
        XCTAssertThrowsError(try loader.finish()) { error in
            let e = error as! WeightLoader.LoadError
            XCTAssertEqual(e.problems.map(\.description),
                           ["b.weight: expected shape [5], checkpoint has [4]", "missing c.weight", "unexpected extra"])
            XCTAssertEqual("\(e)", "\(dir.path)/model.safetensors: 3 weight problems: b.weight: expected shape [5], checkpoint has [4]; missing c.weight; unexpected extra")
        }
    }

    func testCompleteLoadFinishesCleanly() throws {
        let dir = temporaryDirectory()
        let w = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
        try SafetensorsWriter.write(to: dir.appendingPathComponent("model.safetensors"), tensors: [("x.w", w)], dtype: .bf16)
        let loader = WeightLoader(try Checkpoint(directory: dir))
        XCTAssertEqual(loader.scope("x").float("w", [2, 2]), w)
        XCTAssertNoThrow(try loader.finish())
    }

    /// A missing weight of a huge (but valid) shape costs no memory: on main it was zero-filled (SAM with
    /// hidden_size 192000 asked for 442 GB). The placeholder reads as zeros and the load still fails.
    func testMissingWeightsAreNeverMaterialised() throws {
        let dir = temporaryDirectory()
        try SafetensorsWriter.write(to: dir.appendingPathComponent("model.safetensors"), tensors: [("a", Tensor(zeros: [1]))])
        let loader = WeightLoader(try Checkpoint(directory: dir))
        _ = loader.tensor("a", shape: [1])
        let before = residentBytes()
        let huge = loader.tensor("huge", shape: [1 << 20, 1 << 18])          // 2^38 elements
        XCTAssertEqual(huge.shape, [1 << 20, 1 << 18])
        var probe = [Float](repeating: 1, count: 4)
        huge.widen(from: (1 << 37) + 5, count: 4, into: &probe)
        XCTAssertEqual(probe, [0, 0, 0, 0])
        XCTAssertLessThan(residentBytes() - before, 64 << 20, "the placeholder must not be backed by memory")
        assertThrowsMessage("\(dir.path)/model.safetensors: 1 weight problem: missing huge") { try loader.finish() }
    }

    /// Resident set size from /proc/self/statm.
    func residentBytes() -> Int {
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? "0 0"
        return (Int(statm.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func testShardedCheckpointErrorsNameTheIndex() throws {
        let dir = temporaryDirectory()
        try SafetensorsWriter.write(to: dir.appendingPathComponent("part-1.safetensors"), tensors: [("a", Tensor(zeros: [2]))])
        try Data(#"{"weight_map": {"a": "part-1.safetensors"}}"#.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
        let loader = WeightLoader(try Checkpoint(directory: dir))
        _ = loader.tensor("a", shape: [3])
        assertThrowsMessage("\(dir.path)/model.safetensors.index.json: 1 weight problem: a: expected shape [3], checkpoint has [2]") {
            try loader.finish()
        }
    }
}
