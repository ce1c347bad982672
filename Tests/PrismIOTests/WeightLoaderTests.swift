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
}
