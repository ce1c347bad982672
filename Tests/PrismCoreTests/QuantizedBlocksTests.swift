import PrismCore
import PrismTestSupport
import XCTest

/// GGUF block types against gguf-py (fixtures from Tools/reference/gguf_fixtures.py) and the kernel variants
/// against the portable reference.
final class QuantizedBlocksTests: XCTestCase {
    let g = try! Golden("quant_blocks.safetensors")
    let blockTypes: [DType] = [.q4_0, .q5_0, .q8_0, .q4K, .q5K, .q6K]

    func bytes(_ name: String) -> [UInt8] {
        let v = try! g.file.view(name)
        return Array(v.bytes)
    }

    /// Dequantisation is bit-exact against gguf-py's numpy dequantisers, through TensorView.widen too.
    func testDequantisationIsBitExact() throws {
        for t in blockTypes {
            let blocks = bytes("\(t.rawValue).blocks"), expected = g.tensor("\(t.rawValue).dequantized").data
            XCTAssertEqual(QuantizedBlocks.dequantize(blocks, as: t).map(\.bitPattern), expected.map(\.bitPattern), t.rawValue)
            let row = t.blockElements * 2
            let widened = blocks.withUnsafeBytes { raw in
                TensorView(name: "w", dtype: t, shape: [expected.count / row, row], bytes: raw, owner: nil).toTensor().data
            }
            XCTAssertEqual(widened.map(\.bitPattern), expected.map(\.bitPattern), t.rawValue)
        }
    }

    /// Prism's Q8_0, Q4_0 and Q5_0 quantisers write the same bytes as gguf-py's (both deterministic).
    func testQuantisersAreByteIdenticalToGGUFPy() {
        for t in [DType.q8_0, .q4_0, .q5_0] {
            XCTAssertEqual(QuantizedBlocks.quantize(g.tensor("\(t.rawValue).input").data, as: t), bytes("\(t.rawValue).quantized"), t.rawValue)
        }
    }

    /// Every quantiser, the K-types included, writes the same bytes as llama.cpp's own (ggml_quantize_chunk of the
    /// llama-cpp-python wheel, no importance matrix), so Prism's files equal llama-quantize's.
    func testQuantisersAreByteIdenticalToLlamaCpp() {
        for t in blockTypes {
            XCTAssertEqual(QuantizedBlocks.quantize(g.tensor("\(t.rawValue).llama_input").data, as: t),
                           bytes("\(t.rawValue).llama_quantized"), t.rawValue)
        }
    }

    /// Quantisers round trip within each format's resolution, and a zero row stays zero.
    func testKQuantRoundTrip() {
        var rng = SplitMix64(seed: 5)
        let x = (0..<1024).map { _ in Float.random(in: -1...1, using: &rng) * (Float.random(in: 0...1, using: &rng) < 0.1 ? 4 : 1) }
        for (t, bound) in [(DType.q4K, Float(0.12)), (.q5K, 0.06), (.q6K, 0.03), (.q8_0, 0.01), (.q4_0, 0.15), (.q5_0, 0.08)] {
            let y = QuantizedBlocks.dequantize(QuantizedBlocks.quantize(x, as: t), as: t)
            let rms = (zip(x, y).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Float(x.count)).squareRoot()
            let scale = (x.map { $0 * $0 }.reduce(0, +) / Float(x.count)).squareRoot()
            XCTAssertLessThan(rms / scale, bound, t.rawValue)
            XCTAssertEqual(QuantizedBlocks.dequantize(QuantizedBlocks.quantize([Float](repeating: 0, count: 256), as: t), as: t),
                           [Float](repeating: 0, count: 256), t.rawValue)
        }
    }

    /// Every kernel variant the CPU supports agrees with the portable reference on random blocks; the
    /// dispatcher's choice is one the CPU supports.
    func testKernelVariantsMatchPortable() {
        XCTAssertTrue(QuantizedBlocks.Variant.selected.isSupported)
        XCTAssertTrue(QuantizedBlocks.Variant.portable.isSupported)
        var rng = SplitMix64(seed: 9)
        for t in blockTypes {
            let n = 1024
            for trial in 0..<4 {
                let w = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
                let x = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) * (trial == 3 ? 100 : 1) }
                let q = QuantizedBlocks.quantize(w, as: t)
                let ref = QuantizedBlocks.dot(q, x, as: t, variant: .portable)!
                // the exact dot of the dequantised weight with the float input, to bound the int8 activation error
                let exact = zip(QuantizedBlocks.dequantize(q, as: t), x).map { Double($0) * Double($1) }.reduce(0, +)
                let mass = zip(w, x).map { abs(Double($0) * Double($1)) }.reduce(0, +)
                XCTAssertLessThan(abs(Double(ref) - exact) / mass, 0.01, "\(t.rawValue) reference vs float")
                for v in QuantizedBlocks.Variant.allCases where v != .portable {
                    guard let r = QuantizedBlocks.dot(q, x, as: t, variant: v) else { continue }
                    XCTAssertLessThan(abs(Double(r - ref)) / mass, 1e-6, "\(t.rawValue) \(v.name) vs portable")
                }
            }
        }
    }

    /// The 32-value activation blocks (Q8_0, Q4_0, Q5_0 weights), vectorised where the CPU allows, byte for byte
    /// against the definition: d = amax / 127, q = x / d rounded half away from zero (roundf), and the weight type's
    /// offset term per int32 lane, −(o/8)·Σq (o = 8 for Q4_0, 16 for Q5_0, none for Q8_0). Blocks of exact halves,
    /// values just below a half, an all-zero block and random scales.
    func testActivationBlocksRoundHalfAwayFromZero() {
        var rng = SplitMix64(seed: 21)
        var x: [Float] = []
        x += [127] + (1..<32).map { Float($0 - 16) + 0.5 }                     // x / d = k + ½ exactly
        x += [-127] + (1..<32).map { $0 % 2 == 0 ? 0.49999997 : -0.49999997 }  // just below ½
        x += [Float](repeating: 0, count: 32)
        for b in 0..<61 { x += (0..<32).map { _ in Float.random(in: -1...1, using: &rng) * Float(b % 9 + 1) * 0.37 } }
        for (type, offset) in [(DType.q8_0, 0), (.q4_0, 8), (.q5_0, 16)] {
            let bytes = QuantizedBlocks.quantizeActivation(x, for: type)
            XCTAssertEqual(bytes.count, x.count / 32 * 40)
            var expected: [UInt8] = []
            for b in 0..<(x.count / 32) {
                let block = x[(b * 32)..<(b * 32 + 32)]
                let d = (block.map { abs($0) }.max() ?? 0) / 127, id: Float = d != 0 ? 1 / d : 0
                let q = block.map { Int8(($0 * id).rounded()) }
                withUnsafeBytes(of: d) { expected += $0 }
                withUnsafeBytes(of: Int32(-offset / 8 * q.reduce(0) { $0 + Int($1) })) { expected += $0 }
                expected += q.map { UInt8(bitPattern: $0) }
            }
            XCTAssertEqual(bytes, expected, "\(type)")
        }
    }

    /// The 256-value activation blocks (K-type weights), vectorised where the CPU allows, byte for byte against
    /// ggml's quantize_row_q8_K: scale −127 / (the first value of largest magnitude), q = min(127, round half to even
    /// of x · scale), the 16-value sums, d = 1 / scale. Blocks with ties, a largest magnitude held by both signs,
    /// an all-zero block and random scales.
    func testKActivationBlocksMatchGGML() {
        var rng = SplitMix64(seed: 22)
        var x: [Float] = []
        x += [-127] + (1..<256).map { Float($0 % 254 - 127) + 0.5 }                 // x · scale = −(k + ½): ties
        x += [3, -3] + (2..<256).map { _ in Float.random(in: -3...3, using: &rng) } // |max| twice, first positive
        x += [Float](repeating: 0, count: 256)
        for b in 0..<13 { x += (0..<256).map { _ in Float.random(in: -1...1, using: &rng) * Float(b % 5 + 1) * 0.7 } }
        let bytes = QuantizedBlocks.quantizeActivation(x, for: .q4K)
        XCTAssertEqual(bytes.count, x.count / 256 * 292)
        var expected: [UInt8] = []
        for b in 0..<(x.count / 256) {
            let block = Array(x[(b * 256)..<(b * 256 + 256)])
            var amax: Float = 0, max: Float = 0
            for v in block where abs(v) > amax { amax = abs(v); max = v }
            if amax == 0 { expected += [UInt8](repeating: 0, count: 292); continue }
            let scale = -127 / max
            let q = block.map { Int8(min(127, (scale * $0).rounded(.toNearestOrEven))) }
            withUnsafeBytes(of: 1 / scale) { expected += $0 }
            expected += q.map { UInt8(bitPattern: $0) }
            for g in 0..<16 { withUnsafeBytes(of: Int16(q[(g * 16)..<(g * 16 + 16)].reduce(0) { $0 + Int($1) })) { expected += $0 } }
        }
        XCTAssertEqual(bytes, expected)
    }

    /// A stacked [E, rows, cols] tensor slices into per-expert views without copying.
    func testSliceOfStackedBlocks() {
        let rows = 3, cols = 64, e = 4
        let x = (0..<(e * rows * cols)).map { Float($0 % 17) - 8 }
        let q = QuantizedBlocks.quantize(x, as: .q8_0)
        q.withUnsafeBytes { raw in
            let v = TensorView(name: "exps", dtype: .q8_0, shape: [e, rows, cols], bytes: raw, owner: nil)
            for i in 0..<e {
                let s = v.slice(i)
                XCTAssertEqual(s.shape, [rows, cols])
                XCTAssertEqual(s.bytes.baseAddress, raw.baseAddress! + i * rows * cols / 32 * 34)
                XCTAssertEqual(s.toTensor().data, Array(QuantizedBlocks.dequantize(q, as: .q8_0)[(i * rows * cols)..<((i + 1) * rows * cols)]))
            }
        }
    }
}

