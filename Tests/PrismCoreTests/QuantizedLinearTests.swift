@testable import PrismCore
import PrismTestSupport
import XCTest

/// `linear` with block-quantised weights: both paths against the float product with the dequantised weight.
final class QuantizedLinearTests: XCTestCase {
    func check(_ t: DType, rows m: Int, out: Int = 48, in k: Int = 512) {
        var rng = SplitMix64(seed: UInt64(m * 31 + k))
        let w = (0..<(out * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let x = Tensor(shape: [m, k], data: (0..<(m * k)).map { _ in Float.random(in: -2...2, using: &rng) })
        let q = QuantizedBlocks.quantize(w, as: t)
        let wDeq = Tensor(shape: [out, k], data: QuantizedBlocks.dequantize(q, as: t))
        let expected = linear(x, wDeq)
        // error budget of the int8 activations: 1/127 of each block's largest |x| times Σ|w|, generously
        let tol = 2.0 / 127 * 2 * Float(k) * 0.5 / Float(k).squareRoot()
        q.withUnsafeBytes { raw in
            let view = TensorView(name: "w", dtype: t, shape: [out, k], bytes: raw, owner: nil)
            let viaLinear = linear(x, view)
            let integer = quantizedLinear(x, view, path: .integer)
            let gemm = quantizedLinear(x, view, path: .dequantizedGEMM)
            XCTAssertEqual(viaLinear.shape, [m, out])
            assertClose(integer, expected, atol: tol, rtol: 0, "\(t.rawValue) integer m=\(m)")
            assertClose(gemm, expected, atol: 1e-3, rtol: 1e-4, "\(t.rawValue) dequantised GEMM m=\(m)")
            assertClose(viaLinear, m <= quantizedIntegerRows(t) ? integer : gemm, atol: 0, rtol: 0, "\(t.rawValue) dispatch m=\(m)")
        }
    }

    func testEveryTypeBothPaths() {
        for t in [DType.q4_0, .q5_0, .q8_0, .q4K, .q5K, .q6K] {
            for m in [1, 3, 40, 130] { check(t, rows: m) }
        }
    }

    /// Prompt rows go through the multi-row kernels (weights unpacked once, up to 4 input rows at a time; all but
    /// Q6_K by quads of weight rows), decoding through the single-row ones. The two agree: bit for bit where the
    /// multi-row kernel repeats the single-row arithmetic (Q6_K), to float rounding for the quads.
    /// A row's value must not depend on which rows share its quad or piece: products over a range that starts
    /// mid-quad are bit-identical to the full range.
    func testMultiRowKernelsMatchRowByRow() {
        let out = 37, k = 768, m = 11
        var rng = SplitMix64(seed: 7)
        let w = (0..<(out * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let x = Tensor(shape: [m, k], data: (0..<(m * k)).map { _ in Float.random(in: -2...2, using: &rng) })
        for t in [DType.q4_0, .q5_0, .q8_0, .q4K, .q5K, .q6K] {
            let q = QuantizedBlocks.quantize(w, as: t)
            q.withUnsafeBytes { raw in
                let view = TensorView(name: "w", dtype: t, shape: [out, k], bytes: raw, owner: nil)
                let xq = QuantizedActivations(x, for: t)
                defer { xq.deallocate() }
                func product(rows: Range<Int>, inputs: Int) -> [Float] {
                    var y = [Float](repeating: .nan, count: m * out)
                    y.withUnsafeMutableBufferPointer { py in
                        if inputs == 1 {   // each row quantised alone: the same int8 blocks
                            for i in 0..<m {
                                let one = QuantizedActivations(x.slice(rows: i..<(i + 1)), for: t)
                                one.gemv(view.weightRows, rows: rows, into: py.baseAddress! + i * out, ldy: out)
                                one.deallocate()
                            }
                        } else {
                            xq.gemv(view.weightRows, rows: rows, into: py.baseAddress!, ldy: out)
                        }
                    }
                    return y
                }
                let single = product(rows: 0..<out, inputs: 1), multi = product(rows: 0..<out, inputs: m)
                let exact = t == .q6K
                for i in 0..<(m * out) {
                    if exact {
                        XCTAssertEqual(multi[i].bitPattern, single[i].bitPattern, "\(t.rawValue) [\(i / out), \(i % out)]")
                    } else {
                        XCTAssertEqual(multi[i], single[i], accuracy: 1e-5 * max(1, abs(single[i])), "\(t.rawValue) [\(i / out), \(i % out)]")
                    }
                }
                // rows 3..<37 in two pieces that cut quads: same bits as the full range
                var pieces = product(rows: 3..<21, inputs: m)
                let rest = product(rows: 21..<out, inputs: m)
                for i in 0..<m { for r in 21..<out { pieces[i * out + r] = rest[i * out + r] } }
                for i in 0..<m { for r in 3..<out {
                    XCTAssertEqual(pieces[i * out + r].bitPattern, multi[i * out + r].bitPattern, "\(t.rawValue) piece [\(i), \(r)]")
                }}
            }
        }
    }

    /// The work split of `linearBatch`: boundaries computed per matrix equal a row-by-row scan for the first row
    /// where the running cost reaches each share (1 − (1 − k/n)², pieces shrinking toward the end), at least `minRows` apart.
    func testBalancedBoundsMatchRowScan() {
        var rng = SplitMix64(seed: 3)
        for _ in 0..<400 {
            let jobs = Int.random(in: 1...9, using: &rng)
            let rows = (0..<jobs).map { _ in Int.random(in: 0...300, using: &rng) }
            let cost = (0..<jobs).map { _ in Int.random(in: 1...40, using: &rng) }
            let pieces = Int.random(in: 1...40, using: &rng), minRows = Int.random(in: 1...32, using: &rng)
            let totalRows = rows.reduce(0, +), total = zip(rows, cost).reduce(0) { $0 + $1.0 * $1.1 }
            let n = max(1, min(pieces, totalRows / minRows))
            var expected = [0]
            if n > 1 && total > 0 {
                var row = 0, acc = 0
                for (r, c) in zip(rows, cost) {
                    for _ in 0..<r {
                        row += 1; acc += c
                        let k = expected.count, share = n * n - (n - k) * (n - k)
                        if acc * n * n >= total * share && row - expected.last! >= minRows && row < totalRows { expected.append(row) }
                    }
                }
            }
            expected.append(totalRows)
            XCTAssertEqual(balancedBounds(rows: rows, costPerRow: cost, pieces: pieces, minRows: minRows), expected,
                           "rows \(rows) cost \(cost) pieces \(pieces) minRows \(minRows)")
        }
    }

    /// `linearBatch` gives each job exactly what `linear` gives it alone, for block-quantised and 16-bit weights in
    /// one batch (inputs of 1–9 rows, one input shared by two weights, rows split into pieces mid-matrix), and falls
    /// back to `linear` per job when a job is outside both kinds (an f32 weight, or too many input rows).
    func testLinearBatchMatchesLinearPerJob() {
        var rng = SplitMix64(seed: 21)
        let k = 256
        func weight(_ out: Int) -> [Float] { (0..<(out * k)).map { _ in Float.random(in: -1...1, using: &rng) } }
        func input(_ m: Int) -> Tensor { Tensor(shape: [m, k], data: (0..<(m * k)).map { _ in Float.random(in: -2...2, using: &rng) }) }
        let bf16 = Convert.f32ToBF16(weight(70)), f16 = Convert.f32ToF16(weight(45)), q8 = QuantizedBlocks.quantize(weight(60), as: .q8_0)
        let f32 = Tensor(shape: [9, k], data: weight(9))
        let shared = input(4)
        bf16.withUnsafeBytes { b in f16.withUnsafeBytes { h in q8.withUnsafeBytes { q in
            let wb = TensorView(name: "bf16", dtype: .bf16, shape: [70, k], bytes: b, owner: nil)
            let wh = TensorView(name: "f16", dtype: .f16, shape: [45, k], bytes: h, owner: nil)
            let wq = TensorView(name: "q8_0", dtype: .q8_0, shape: [60, k], bytes: q, owner: nil)
            let batches: [[(x: Tensor, w: TensorView)]] = [
                [(shared, wb), (shared, wh), (input(1), wq), (input(9), wb), (input(3), wh), (shared, wq)],
                [(input(2), wb), (input(1), TensorView(f32, name: "f32"))],   // an f32 weight: linear per job
                [(input(smallBatchRows + 1), wb), (input(1), wq)],             // past the fused kernel's rows
            ]
            for (n, jobs) in batches.enumerated() {
                for (j, (y, job)) in zip(linearBatch(jobs), jobs).enumerated() {
                    assertClose(y, linear(job.x, job.w), atol: 0, rtol: 0, "batch \(n) job \(j) (\(job.w.name), \(job.x.rows) rows)")
                }
            }
        }}}
    }

    /// Batched input [B, T, in] keeps its leading shape, and a bias is added after the product.
    func testLeadingShapeAndBias() {
        let k = 64, out = 5
        let w = (0..<(out * k)).map { Float($0 % 13) / 13 - 0.5 }
        let q = QuantizedBlocks.quantize(w, as: .q8_0)
        let x = Tensor(shape: [2, 3, k], data: (0..<(6 * k)).map { Float($0 % 7) - 3 })
        let bias = Tensor(shape: [out], data: [1, 2, 3, 4, 5])
        q.withUnsafeBytes { raw in
            let view = TensorView(name: "w", dtype: .q8_0, shape: [out, k], bytes: raw, owner: nil)
            let y = linear(x, view, bias: TensorView(bias))
            XCTAssertEqual(y.shape, [2, 3, out])
            let plain = linear(x.reshaped([6, k]), view)
            assertClose(y.reshaped([6, out]), plain + Tensor(shape: [6, out], data: (0..<30).map { Float($0 % out + 1) }), atol: 1e-5)
        }
    }
}
