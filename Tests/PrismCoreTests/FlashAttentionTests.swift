@testable import PrismCore
import PrismTestSupport
import XCTest

final class FlashAttentionTests: XCTestCase {
    // three segments (one empty), 4 query heads over 2 key/value heads, dk ≠ dv
    let lens = [23, 0, 9, 40]
    let h = 4, hkv = 2, dk = 12, dv = 7
    var total: Int { lens.reduce(0, +) }

    func tensors(seed: UInt64) -> (Tensor, Tensor, Tensor) {
        (Tensor(shape: [total, h, dk], data: randomMatrix(total, h * dk, seed: seed)),
         Tensor(shape: [total, hkv, dk], data: randomMatrix(total, hkv * dk, seed: seed + 1)),
         Tensor(shape: [total, hkv, dv], data: randomMatrix(total, hkv * dv, seed: seed + 2)))
    }

    /// Small tiles (5 query rows × 7 keys) so every segment spans several tiles with ragged edges.
    func testMatchesNaiveAttention() {
        let (q, k, v) = tensors(seed: 1)
        let cu = cumulativeSeqlens(lens)
        for causal in [false, true] {
            let naive = attention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, causal: causal, scale: 0.4)
            for (qb, kb) in [(5, 7), (128, 512), (1, 1)] {
                let flash = flashAttention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, causal: causal, scale: 0.4,
                                           queryBlock: qb, keyBlock: kb)
                assertClose(flash, naive, atol: 2e-6, rtol: 1e-5, "causal \(causal) tiles \(qb)×\(kb)")
            }
        }
    }

    /// Fewer queries than keys (a continued sequence): causal is bottom-right aligned, as in `attention`.
    func testCausalContinuationMatchesNaive() {
        let (q, k, v) = tensors(seed: 4)
        let cuK = cumulativeSeqlens(lens)
        let qLens = [3, 0, 9, 1]
        var rows: [Tensor] = []
        for (s, n) in qLens.enumerated() where n > 0 { rows.append(q.slice(rows: (cuK[s + 1] - n)..<cuK[s + 1])) }
        let qq = Tensor.concatenate(rows: rows), cuQ = cumulativeSeqlens(qLens)
        let naive = attention(q: qq, k: k, v: v, cuSeqlensQ: cuQ, cuSeqlensK: cuK, causal: true, scale: 0.3)
        let flash = flashAttention(q: qq, k: k, v: v, cuSeqlensQ: cuQ, cuSeqlensK: cuK, causal: true, scale: 0.3,
                                   queryBlock: 2, keyBlock: 6)
        assertClose(flash, naive, atol: 2e-6, rtol: 1e-5)
    }

    /// A bias is added to every tile at the right (row, key) positions.
    func testBiasTilesMatchNaiveBias() {
        let (q, k, v) = tensors(seed: 7)
        let cu = cumulativeSeqlens(lens)
        func b(_ s: Int, _ head: Int, _ i: Int, _ j: Int) -> Float { Float((s * 7 + head * 3 + i * 5 + j * 11) % 13) * 0.1 - 0.6 }
        let naive = attention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, causal: false, scale: 0.4) { s, head, scores in
            for i in 0..<scores.shape[0] { for j in 0..<scores.shape[1] { scores[i, j] += b(s, head, i, j) } }
        }
        let flash = flashAttention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, scale: 0.4, queryBlock: 6, keyBlock: 10) { s, head, rows in
            { keys, scores, ld in
                for (i, row) in rows.enumerated() { for (j, key) in keys.enumerated() { scores[i * ld + j] += b(s, head, row, key) } }
            }
        }
        assertClose(flash, naive, atol: 2e-6, rtol: 1e-5)
    }

    /// bf16 with one key tile: scores from bf16-rounded q and k, probabilities exp(s − max) rounded to bf16 before
    /// multiplying bf16-rounded v, normalised by the f32 sum.
    func testBF16RoundsOperandsAndProbabilities() {
        let (q, k, v) = tensors(seed: 10)
        let cu = cumulativeSeqlens(lens)
        let rq = q.roundedToBF16(), rk = k.roundedToBF16(), rv = v.roundedToBF16()
        var want = Tensor(zeros: [total, h, dv])
        for s in 0..<lens.count where lens[s] > 0 {
            for head in 0..<h {
                let kh = head / (h / hkv)
                for i in cu[s]..<cu[s + 1] {
                    let scores = (cu[s]..<cu[s + 1]).map { j in
                        Float((0..<dk).reduce(0.0) { $0 + Double(rq[i, head, $1]) * Double(rk[j, kh, $1]) }) * 0.4
                    }
                    let mx = scores.max()!
                    let p = scores.map { expf($0 - mx) }, l = p.reduce(0, +)
                    let p16 = bf16Rounded(p)
                    for e in 0..<dv {
                        want[i, head, e] = Float(zip(p16, cu[s]..<cu[s + 1]).reduce(0.0) { $0 + Double($1.0) * Double(rv[$1.1, kh, e]) }) / l
                    }
                }
            }
        }
        let got = flashAttention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, scale: 0.4, precision: .bf16, keyBlock: 64)
        assertClose(got, want, atol: 2e-5, rtol: 1e-4)
        let f32 = flashAttention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, scale: 0.4, keyBlock: 64)
        XCTAssertGreaterThan(got.maxAbsDifference(f32), 1e-4, "bf16 rounding skipped")
        XCTAssertLessThan(got.maxAbsDifference(f32), 2e-2)
    }

    func run(_ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool, storage: BF16Storage?) -> Tensor {
        let cu = cumulativeSeqlens(lens)
        return flashAttention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, causal: causal, scale: 0.4, precision: .bf16,
                              bf16Storage: storage, queryBlock: 5, keyBlock: 7, bias: nil)
    }

    /// The oneDNN tile path (head-major operands, transposed key tiles, tile primitives) on f32 kernels with rounded
    /// operands, on any CPU: it must equal the emulation.
    func testOneDNNTilesMatchEmulation() {
        let (q, k, v) = tensors(seed: 13)
        for causal in [false, true] {
            assertClose(run(q, k, v, causal: causal, storage: .roundedF32), run(q, k, v, causal: causal, storage: nil),
                        atol: 2e-6, rtol: 1e-5, "causal \(causal)")
        }
    }

    func testNativeBF16MatchesEmulationAcrossTiles() throws {
        try XCTSkipUnless(OneDNN.hasNativeBF16, "this CPU has no native bf16 GEMM (oneDNN reports \(OneDNN.isaName)); the same tile code runs on f32 kernels above")
        let (q, k, v) = tensors(seed: 13)
        for causal in [false, true] {
            assertClose(run(q, k, v, causal: causal, storage: .bf16), run(q, k, v, causal: causal, storage: nil),
                        atol: 2e-5, rtol: 1e-4, "causal \(causal)")
        }
    }

    /// All keys masked for a row (a causal segment with more queries than the cache allows is a precondition; a bias
    /// of −∞ is not): the row comes out zero, as `attention` gives.
    func testFullyMaskedRowsAreZero() {
        let (q, k, v) = tensors(seed: 16)
        let cu = cumulativeSeqlens(lens)
        let flash = flashAttention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, scale: 0.4, queryBlock: 4, keyBlock: 5) { _, _, rows in
            { _, scores, ld in for i in 0..<rows.count where rows.lowerBound + i == 2 { for j in 0..<ld { scores[i * ld + j] = -.infinity } } }
        }
        for head in 0..<h { for e in 0..<dv { XCTAssertEqual(flash[2, head, e], 0) } }
    }
}
