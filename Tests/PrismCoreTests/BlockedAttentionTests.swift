import PrismCore
import XCTest

final class BlockedAttentionTests: XCTestCase {
    private func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var s = seed
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2000) / 1000 - 1
        })
    }

    /// Same result as the reference `attention` (already checked against torch), including a bias that depends
    /// on the absolute query row, for blocks that do and do not divide the segment lengths.
    func testMatchesAttentionWithBias() {
        let q = random([23, 3, 8], seed: 1), k = random([23, 3, 8], seed: 2), v = random([23, 3, 5], seed: 3)
        let cu = [0, 9, 23]
        func b(_ s: Int, _ h: Int, _ row: Int, _ col: Int) -> Float { Float(s + 2 * h) * 0.1 + Float(row * col % 7) * 0.05 }
        let expected = attention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, causal: false, scale: 0.3) { s, h, scores in
            for r in 0..<scores.shape[0] { for c in 0..<scores.shape[1] { scores[r, c] += b(s, h, r, c) } }
        }
        for block in [1, 4, 64] {
            let out = blockedAttention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, scale: 0.3, blockRows: block) { s, h, rows, p in
                let nk = cu[s + 1] - cu[s]
                for (i, r) in rows.enumerated() { for c in 0..<nk { p[i * nk + c] += b(s, h, r, c) } }
            }
            XCTAssertLessThan(out.maxAbsDifference(expected), 1e-6, "block \(block)")
        }
    }
}
