import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
import XCTest

final class SafetensorsTests: XCTestCase {
    // MARK: - Files written by the reference `safetensors` library

    func testReadsEveryDTypeWrittenByReferenceLibrary() throws {
        let file = try SafetensorsFile(path: fixtureURL("st/mixed.safetensors").path)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("st/expected.json"))) as! [String: [String: Any]]
        XCTAssertEqual(Set(file.names), Set(expected.keys))
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "prism fixture"])
        for (name, e) in expected {
            let view = try file.view(name)
            XCTAssertEqual(view.shape, e["shape"] as! [Int], name)
            let values = (e["values"] as! [NSNumber]).map(\.doubleValue)
            if ["int64", "int32", "uint8", "bool"].contains(e["dtype"] as! String) {
                XCTAssertEqual(view.toInts(), values.map { Int($0) }, name)
            } else {
                XCTAssertEqual(view.toTensor().data, values.map { Float($0) }, name)
            }
        }
    }

    func testShardedCheckpointResolvesTensorsThroughIndex() throws {
        let ck = try Checkpoint(directory: fixtureURL("st/sharded"))
        let sums = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("st/sharded/expected_sums.json"))) as! [String: Double]
        XCTAssertEqual(Set(ck.names), Set(sums.keys))
        for (name, sum) in sums {
            XCTAssertEqual(Double(try ck.view(name).toTensor().data.reduce(0, +)), sum, accuracy: 1e-4, name)
        }
        XCTAssertEqual(try ck.view("model.embed.weight").dtype, .bf16)
        assertThrowsMessage("\(ck.source): no tensor named 'nope'") { try ck.view("nope") }
        XCTAssertTrue(ck.source.hasSuffix("/model.safetensors.index.json"))
    }

    // MARK: - Writer round trip

    func testWriterRoundTripsAllFloatStorageTypes() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = Tensor(shape: [3, 5], data: (0..<15).map { Float($0) * 0.37 - 2 })
        let b = Tensor(shape: [0], data: [])
        for dtype in [DType.f32, .f16, .bf16] {
            let url = dir.appendingPathComponent("t-\(dtype).safetensors")
            try SafetensorsWriter.write(to: url, tensors: [("a", a), ("empty", b)], dtype: dtype, metadata: ["k": "v"])
            let f = try SafetensorsFile(path: url.path)
            XCTAssertEqual(f.metadata, ["k": "v"])
            let back = try f.view("a")
            XCTAssertEqual(back.dtype, dtype)
            let expected = dtype == .f32 ? a.data : dtype == .f16 ? Convert.f16ToF32(Convert.f32ToF16(a.data))
                                                                  : Convert.bf16ToF32(Convert.f32ToBF16(a.data))
            XCTAssertEqual(back.toTensor().data, expected)
            XCTAssertEqual(try f.view("empty").shape, [0])
            let headerLength = Int(try Data(contentsOf: url).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            XCTAssertEqual((8 + headerLength) % 8, 0, "data section is 8-byte aligned")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [],
                       "no temporary files left behind")
    }

    // MARK: - Malformed files: each a one-line error naming file and tensor

    /// Builds a safetensors file from a raw header string and a data section.
    private func file(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) throws -> String {
        let url = temporaryDirectory().appendingPathComponent("bad.safetensors")
        var bytes = Data()
        var n = (lengthOverride ?? UInt64(header.utf8.count)).littleEndian
        bytes.append(Data(bytes: &n, count: 8))
        bytes.append(Data(header.utf8))
        bytes.append(Data(data))
        try bytes.write(to: url)
        return url.path
    }

    func testTruncatedFileIsRejected() throws {
        let url = temporaryDirectory().appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: url)
        assertThrowsMessage("\(url.path): not a safetensors file: 3 bytes, need at least 8") { try SafetensorsFile(path: url.path) }
        // A real file cut in the middle of its data: the last tensor's offsets run past the end.
        let full = try Data(contentsOf: fixtureURL("st/mixed.safetensors"))
        let cut = temporaryDirectory().appendingPathComponent("cut.safetensors")
        try full.prefix(full.count - 10).write(to: cut)
        XCTAssertThrowsError(try SafetensorsFile(path: cut.path)) { error in
            guard case SafetensorsError.offsetsOutOfBounds(let f, _, _, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(f, cut.path)
        }
    }

    func testHugeHeaderLengthIsRejectedWithoutAllocating() throws {
        let path = try file(header: "{}", lengthOverride: UInt64.max)
        assertThrowsMessage("\(path): header length \(UInt64.max) exceeds the 100000000-byte limit") { try SafetensorsFile(path: path) }
        let path2 = try file(header: "{}", lengthOverride: 5000)
        assertThrowsMessage("\(path2): header length 5000 runs past the end of the 10-byte file (truncated?)") {
            try SafetensorsFile(path: path2)
        }
    }

    func testMalformedJSONIsRejected() throws {
        let path = try file(header: "{\"a\": {")
        XCTAssertThrowsError(try SafetensorsFile(path: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): invalid header: JSON does not parse"), "\(error)")
        }
        let path2 = try file(header: "[1,2]")
        assertThrowsMessage("\(path2): invalid header: JSON is not an object") { try SafetensorsFile(path: path2) }
    }

    func testLyingHeaderShapeVersusOffsets() throws {
        let path = try file(header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, data: Array(repeating: 0, count: 20))
        assertThrowsMessage("\(path): tensor 'w': shape [2, 3] × F32 needs 24 bytes but data_offsets span 20") {
            try SafetensorsFile(path: path)
        }
    }

    func testOffsetsOutsideFile() throws {
        let path = try file(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: Array(repeating: 0, count: 8))
        assertThrowsMessage("\(path): tensor 'w': data_offsets [0, 16] outside the 8-byte data section (truncated file?)") {
            try SafetensorsFile(path: path)
        }
    }

    func testOverlappingTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let path = try file(header: header, data: Array(repeating: 0, count: 12))
        assertThrowsMessage("\(path): tensor 'b' overlaps tensor 'a'") { try SafetensorsFile(path: path) }
    }

    func testGapsAndTrailingBytes() throws {
        let gap = try file(header: #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#, data: [0, 0, 0, 0])
        assertThrowsMessage("\(gap): unclaimed bytes at data offset 0 before tensor 'a'") { try SafetensorsFile(path: gap) }
        let trailing = try file(header: #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#, data: [0, 0, 9])
        assertThrowsMessage("\(trailing): tensors end at data offset 2 but the data section has 3 bytes") {
            try SafetensorsFile(path: trailing)
        }
    }

    func testBadEntries() throws {
        let dtype = try file(header: #"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0])
        assertThrowsMessage("\(dtype): tensor 'w': unsupported dtype Q4") { try SafetensorsFile(path: dtype) }
        let shape = try file(header: #"{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#, data: [0])
        assertThrowsMessage("\(shape): tensor 'w': shape must be a list of non-negative integers") { try SafetensorsFile(path: shape) }
        let offsets = try file(header: #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,true]}}"#, data: [0])
        assertThrowsMessage("\(offsets): tensor 'w': data_offsets must be two integers") { try SafetensorsFile(path: offsets) }
        let overflow = try file(header: #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,1]}}"#, data: [0])
        assertThrowsMessage("\(overflow): tensor 'w': shape [4611686018427387904, 4] overflows") { try SafetensorsFile(path: overflow) }
    }

    func testMissingFileAndMissingIndexShard() throws {
        assertThrowsMessage("/nonexistent/x.safetensors: cannot open: No such file or directory") {
            try SafetensorsFile(path: "/nonexistent/x.safetensors")
        }
        let dir = temporaryDirectory()
        try #"{"weight_map":{"a":"model-00001-of-00002.safetensors"}}"#.write(
            to: dir.appendingPathComponent("model.safetensors.index.json"), atomically: true, encoding: .utf8)
        assertThrowsMessage("\(dir.path)/model.safetensors.index.json: shard 'model-00001-of-00002.safetensors' is missing") {
            try Checkpoint(directory: dir)
        }
        let empty = temporaryDirectory()
        assertThrowsMessage("\(empty.path): no model.safetensors or model.safetensors.index.json") { try Checkpoint(directory: empty) }
    }

    // MARK: - Memory mapping

    /// A 1 GiB BF16 tensor file (sparse on disk) opens without reading its data: resident memory grows
    /// only with what is touched.
    func testLargeFileOpensWithoutReadingData() throws {
        let url = temporaryDirectory().appendingPathComponent("big.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let count = 1 << 29   // 512 Mi bf16 values = 1 GiB
        let header = #"{"w":{"dtype":"BF16","shape":[\#(count)],"data_offsets":[0,\#(count * 2)]}}"#
        var data = Data()
        var n = UInt64(header.utf8.count).littleEndian
        data.append(Data(bytes: &n, count: 8)); data.append(Data(header.utf8))
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: data))
        let h = try FileHandle(forWritingTo: url)
        try h.truncate(atOffset: UInt64(data.count + count * 2))
        try h.close()

        let before = residentBytes()
        let file = try SafetensorsFile(path: url.path)
        let view = try file.view("w")
        XCTAssertEqual(view.count, count)
        var chunk = [Float](repeating: 1, count: 1 << 20)   // touch 2 MiB of the mapping
        chunk.withUnsafeMutableBufferPointer { view.widen(from: 1 << 24, count: 1 << 20, into: $0.baseAddress!) }
        XCTAssertEqual(chunk.max(), 0)
        let grown = residentBytes() - before
        XCTAssertLessThan(grown, 64 << 20, "resident memory grew by \(grown >> 20) MiB after opening a 1 GiB file")
    }

    private func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = s.split(separator: " ")
        return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
