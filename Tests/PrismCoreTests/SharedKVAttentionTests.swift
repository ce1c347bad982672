import CPrismKernels
import Foundation
@testable import PrismCore
import XCTest

/// `sharedKVAttention` against attention written out in Double, for the shapes that take each path: a decoding
/// token's heads over a short cache (direct dot products, `prism_attention_rows`) and the GEMM path (many query
/// rows, or a cache too long for L2). Keys are strided rows and the values their first columns, as in MLA's cache.
final class SharedKVAttentionTests: XCTestCase {
    var heads = 4
    let d = 83, dv = 37, ldk = 88

    func naive(_ q: [Float], queries nq: Int, _ keys: [Float], count nk: Int, causal: Bool, scale: Float) -> [Float] {
        var out = [Float](repeating: 0, count: nq * heads * dv)
        for t in 0..<nq { for h in 0..<heads {
            let row = t * heads + h, visible = causal ? nk - nq + t + 1 : nk
            var s = [Double](repeating: 0, count: visible)
            for j in 0..<visible {
                for c in 0..<d { s[j] += Double(q[row * d + c]) * Double(keys[j * ldk + c]) }
                s[j] *= Double(scale)
            }
            let m = s.max() ?? 0, e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
            for c in 0..<dv {
                var acc = 0.0
                for j in 0..<visible { acc += e[j] / z * Double(keys[j * ldk + c]) }
                out[row * dv + c] = Float(acc)
            }
        }}
        return out
    }

    func check(queries nq: Int, keys nk: Int, causal: Bool, file: StaticString = #filePath, line: UInt = #line) {
        let q = randomMatrix(nq * heads, d, seed: UInt64(nq * 1000 + nk)), keys = randomMatrix(nk, ldk, seed: UInt64(nk))
        var out = [Float](repeating: .nan, count: nq * heads * dv)
        keys.withUnsafeBufferPointer { k in
            sharedKVAttention(q: q, queries: nq, heads: heads, dim: d, keys: k.baseAddress!, ldk: ldk,
                              values: k.baseAddress!, ldv: ldk, count: nk, valueDim: dv, scale: 0.3, causal: causal, out: &out)
        }
        let want = naive(q, queries: nq, keys, count: nk, causal: causal, scale: 0.3)
        let err = zip(out, want).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(err, 2e-5, "\(nq) queries × \(nk) keys, causal \(causal)", file: file, line: line)
    }

    override func tearDown() { _ = prism_attention_rows_select(-1) }

    /// The direct kernels this CPU runs: AVX2, and AVX-512 where it has it.
    var directKernels: [Int32] { [0, 1].filter { prism_attention_rows_select($0) == 1 } }

    func testDecodingTokenAgainstShortCache() {
        for kernel in directKernels {
            _ = prism_attention_rows_select(kernel)
            heads = 4
            // 1–5 keys: the 4-key blocks and their remainders; 50: several blocks; 800: past L2
            for nk in [1, 3, 4, 5, 50, 800] { for causal in [true, false] { check(queries: 1, keys: nk, causal: causal) } }
            check(queries: 3, keys: 40, causal: true)
            // heads in groups of 4, 3 and 2 that share each key load
            for h in [3, 6, 7] { heads = h; check(queries: 1, keys: 51, causal: true) }
        }
    }

    func testGEMMPathForManyRowsOrLongCaches() {
        check(queries: 9, keys: 40, causal: true)      // 36 query rows
        check(queries: 1, keys: 12_000, causal: true)  // 12,000 × 88 floats: past the direct path's few MB
        check(queries: 2, keys: 12_000, causal: false)
    }

    /// Heads that see the same keys go through the kernel up to 4 at a time; each result must be the one the head
    /// gets alone, bit for bit.
    func testHeadsSharingKeysEqualOneHeadAtATime() {
        for kernel in directKernels {
            _ = prism_attention_rows_select(kernel)
            headsSharingKeysEqualOneHeadAtATime()
        }
    }

    func headsSharingKeysEqualOneHeadAtATime() {
        let rows = 7, nk = 103
        let q = randomMatrix(rows, d, seed: 5), keys = randomMatrix(nk, ldk, seed: 6)
        let visible = [Int](repeating: nk, count: rows)
        var together = [Float](repeating: .nan, count: rows * dv), alone = together
        var scores = [Float](repeating: 0, count: 4 * nk)
        prism_attention_rows(q, rows, d, keys, ldk, keys, ldk, dv, visible, 0.3, &scores, &together)
        for r in 0..<rows {
            alone.withUnsafeMutableBufferPointer { o in
                prism_attention_rows(Array(q[(r * d)...]), 1, d, keys, ldk, keys, ldk, dv, [nk], 0.3, &scores, o.baseAddress! + r * dv)
            }
        }
        XCTAssertEqual(together, alone)
        XCTAssertFalse(together.contains { $0.isNaN })
    }
}
