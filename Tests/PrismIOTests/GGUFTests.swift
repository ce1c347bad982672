import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
import XCTest

final class GGUFTests: XCTestCase {
    // MARK: - A file written by gguf-py (Tools/reference/gguf_fixtures.py)

    func testReadsFileWrittenByGGUFPy() throws {
        let f = try GGUFFile(path: fixtureURL("gguf/mixed.gguf").path)
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("gguf/expected.json"))) as! [String: Any]
        let meta = expected["metadata"] as! [String: Any]
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.alignment, 32)
        XCTAssertEqual(Set(f.keys), Set(meta.keys))
        XCTAssertEqual(f.value("test.u8"), .uint(200, .uint8))
        XCTAssertEqual(f.value("test.i8"), .int(-100, .int8))
        XCTAssertEqual(f.value("test.u16"), .uint(60000, .uint16))
        XCTAssertEqual(f.value("test.i16"), .int(-30000, .int16))
        XCTAssertEqual(f.value("test.u32"), .uint(4_000_000_000, .uint32))
        XCTAssertEqual(f.value("test.i32"), .int(-2_000_000_000, .int32))
        XCTAssertEqual(try f.int("test.u64"), 1 << 40)
        XCTAssertEqual(try f.int("test.i64"), -(1 << 40))
        XCTAssertEqual(try f.float("test.f32"), 0.25)
        XCTAssertEqual(f.value("test.f64"), .float(1e-300, .float64))
        XCTAssertEqual(try f.bool("test.bool"), true)
        XCTAssertEqual(try f.string("test.string"), "héllo, GGUF")
        XCTAssertEqual(try f.string("general.architecture"), "prismtest")
        XCTAssertEqual(try f.array("test.strings").strings, ["a", "", "Ġworld", "<|im_end|>"])
        XCTAssertEqual(try f.array("test.ints").ints, [1, -2, 3])
        XCTAssertEqual(try f.array("test.floats").floats, [0.5, -1.5])

        let tensors = expected["tensors"] as! [String: [String: Any]]
        XCTAssertEqual(Set(f.tensors.map(\.name)), Set(tensors.keys))
        for (name, e) in tensors {
            let v = try f.view(name)
            XCTAssertEqual(v.dtype.rawValue, e["type"] as? String, name)
            XCTAssertEqual(v.shape, e["shape"] as! [Int], name)
            let values = (e["values"] as! [NSNumber]).map { Float($0.doubleValue) }
            if v.dtype == .i32 { XCTAssertEqual(v.toInts(), values.map { Int($0) }, name); continue }
            XCTAssertEqual(v.toTensor().data.map(\.bitPattern), values.map(\.bitPattern), name)
        }
        // the stacked Q6_K tensor slices per leading index
        let stack = try f.view("q6_k.stack")
        XCTAssertEqual(stack.slice(1).toTensor().data, Array(stack.toTensor().data[256...]))
        assertThrowsMessage("\(f.path): no tensor named 'nope'") { try f.view("nope") }
        assertThrowsMessage("\(f.path): missing key 'nope'") { try f.int("nope") }
        assertThrowsMessage("\(f.path): key 'test.string' is string, expected integer") { try f.int("test.string") }
    }

    // MARK: - Writer

    func testWriterRoundTripStreamsPieces() throws {
        let url = temporaryDirectory().appendingPathComponent("rt.gguf")
        let w: [Float] = (0..<(2 * 3 * 256)).map { i -> Float in Float(i % 29) / 7 - 2 }
        let q6 = QuantizedBlocks.quantize(w, as: .q6K)
        let f32: [Float] = [1, -2, 3.5]
        let specs = [GGUFWriter.TensorSpec("a.f32", .f32, [3]), GGUFWriter.TensorSpec("blk.0.ffn_up_exps.weight", .q6K, [2, 3, 256])]
        var meta: [(key: String, value: GGUFValue)] = []
        meta.append(("general.architecture", GGUFValue.string("deepseek2")))
        meta.append(("x.count", GGUFValue.uint(7, .uint32)))
        meta.append(("x.eps", GGUFValue.float(1e-5, .float32)))
        meta.append(("x.flag", GGUFValue.bool(false)))
        meta.append(("x.tokens", GGUFValue.array(GGUFArray(strings: ["<s>", "Ġa"]))))
        meta.append(("x.types", GGUFValue.array(GGUFArray(int32s: [1, 3]))))
        for alignment in [32, 64] {
            try GGUFWriter.write(to: url, metadata: meta, tensors: specs, alignment: alignment) { i, emit in
                if i == 0 { try f32.withUnsafeBytes { try emit($0) }; return }
                // one expert at a time
                let per = q6.count / 2
                try q6.withUnsafeBytes { raw in
                    for e in 0..<2 { try emit(UnsafeRawBufferPointer(rebasing: raw[(e * per)..<((e + 1) * per)])) }
                }
            }
            let f = try GGUFFile(path: url.path)
            XCTAssertEqual(f.alignment, alignment)
            XCTAssertEqual(f.tensors.map(\.offset).allSatisfy { $0 % alignment == 0 }, true)
            XCTAssertEqual(try f.string("general.architecture"), "deepseek2")
            XCTAssertEqual(f.value("x.count"), .uint(7, .uint32))
            XCTAssertEqual(try f.float("x.eps"), 1e-5)
            XCTAssertEqual(try f.bool("x.flag"), false)
            XCTAssertEqual(try f.array("x.tokens").strings, ["<s>", "Ġa"])
            XCTAssertEqual(try f.array("x.types").ints, [1, 3])
            XCTAssertEqual(try f.view("a.f32").toTensor().data, f32)
            let v = try f.view("blk.0.ffn_up_exps.weight")
            XCTAssertEqual(v.shape, [2, 3, 256])
            XCTAssertEqual(Array(v.bytes), q6)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        XCTAssertEqual(leftovers, ["rt.gguf"], "no temporary file is left behind")
    }

    // MARK: - Bad input: one error naming the file and tensor, never a crash

    /// A minimal valid file: one metadata key, one F32 tensor "t" [2] (or `dims` / `type` / `offset` as given).
    func file(magic: String = "GGUF", version: UInt32 = 3, tensorCount: UInt64 = 1, kvCount: UInt64 = 1,
              arrayLength: UInt64? = nil, dims: [UInt64] = [2], type: UInt32 = 0, offset: UInt64 = 0, data: Int = 8) -> Data {
        var d = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); d.append(contentsOf: s.utf8) }
        d.append(contentsOf: magic.utf8)
        u32(version); u64(tensorCount); u64(kvCount)
        str("general.architecture")
        if let n = arrayLength { u32(9); u32(4); u64(n) } else { u32(8); str("deepseek2") }
        str("t"); u32(UInt32(dims.count)); for x in dims { u64(x) }; u32(type); u64(offset)
        while d.count % 32 != 0 { d.append(0) }
        d.append(contentsOf: [UInt8](repeating: 0x3F, count: data))
        return d
    }

    func parse(_ d: Data) throws -> GGUFFile { try GGUFFile(data: d, name: "m.gguf") }

    func testValidMinimalFileParses() throws {
        let f = try parse(file())
        XCTAssertEqual(try f.view("t").shape, [2])
    }

    func testBadMagicAndVersion() {
        assertThrowsMessage("m.gguf: not a GGUF file (magic \"GGUX\", expected \"GGUF\")") { try parse(file(magic: "GGUX")) }
        assertThrowsMessage("m.gguf: unsupported GGUF version 1 (2 and 3 are supported)") { try parse(file(version: 1)) }
        assertThrowsMessage("m.gguf: unsupported GGUF version 4 (2 and 3 are supported)") { try parse(file(version: 4)) }
    }

    func testTruncatedFiles() throws {
        let full = file()
        assertThrowsMessage("m.gguf: tensor 't': data ends at byte 8 of a 4-byte data section (truncated file?)") {
            try parse(full.prefix(full.count - 4))
        }
        assertThrowsMessage("m.gguf: truncated: magic at byte 0 runs past the end of the 2-byte file") { try parse(full.prefix(2)) }
        // every shorter prefix is rejected with an error, never a crash
        for n in 0..<full.count {
            XCTAssertThrowsError(try parse(full.prefix(n)), "prefix \(n)")
        }
    }

    func testTensorProblemsNameTheTensor() {
        assertThrowsMessage("m.gguf: tensor 't': data ends at byte 4104 of a 8-byte data section (truncated file?)") {
            try parse(file(offset: 4096))
        }
        assertThrowsMessage("m.gguf: tensor 't': unsupported ggml type 3 (Q4_1)") { try parse(file(type: 3)) }
        assertThrowsMessage("m.gguf: tensor 't': unsupported ggml type 99 (unknown)") { try parse(file(type: 99)) }
        assertThrowsMessage("m.gguf: tensor 't': data offset 8 is not a multiple of the alignment 32") { try parse(file(offset: 8)) }
        assertThrowsMessage("m.gguf: tensor 't': 5 dimensions (GGUF allows 1 to 4)") { try parse(file(dims: [1, 1, 1, 1, 2])) }
        assertThrowsMessage("m.gguf: tensor 't': 0 dimensions (GGUF allows 1 to 4)") { try parse(file(dims: [])) }
        assertThrowsMessage("m.gguf: tensor 't': rows of 16 values are not whole Q8_0 blocks of 32") { try parse(file(dims: [16], type: 8)) }
        assertThrowsMessage("m.gguf: tensor 't': element count overflows") { try parse(file(dims: [1 << 36, 1 << 36])) }
    }

    func testAbsurdCountsAreRejectedBeforeAllocating() {
        assertThrowsMessage("m.gguf: tensor count 1152921504606846976 is impossible for this file (at most 4)") {
            try parse(file(tensorCount: 1 << 60))
        }
        assertThrowsMessage("m.gguf: key-value count 4294967296 is impossible for this file (at most 8)") {
            try parse(file(kvCount: 1 << 32))
        }
        assertThrowsMessage("m.gguf: length of array 'general.architecture' 4611686018427387904 is impossible for this file (at most 17)") {
            try parse(file(arrayLength: 1 << 62))
        }
    }

    /// Random byte flips in a valid file: every outcome is a parse or an error, never a crash.
    func testCorruptedBytesNeverCrash() {
        let full = file()
        var rng = SplitMix64(seed: 1)
        for _ in 0..<2000 {
            var d = full
            for _ in 0..<3 { d[Int(rng.next() % UInt64(d.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            if let f = try? parse(d) { for t in f.tensors { _ = try? f.view(t.name).toTensor() } }
        }
    }
}
