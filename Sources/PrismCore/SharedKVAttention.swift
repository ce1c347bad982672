// Attention where every query head reads the same single key/value head (multi-query attention, and MLA's
// absorbed form, whose heads all attend over the shared latent cache). The queries of all heads of a block of
// tokens multiply the keys in one GEMM, so the keys and values are read once per block of tokens, not once per
// head. Keys and values are row pointers with their own strides, so a KV cache is used in place (MLA's values
// are the first columns of its key rows).
import CPrismKernels

/// q: `queries` × `heads` rows of `dim` values ([T, H, D], contiguous); keys: `count` rows of `dim` values,
/// `ldk` apart; values: `count` rows of `valueDim`, `ldv` apart. Causal: query i of the block sees keys
/// 0 ... count − queries + i (the queries are the cache's last rows). Writes [T, H, valueDim] to `out`.
public func sharedKVAttention(q: UnsafePointer<Float>, queries nq: Int, heads: Int, dim d: Int,
                              keys: UnsafePointer<Float>, ldk: Int, values: UnsafePointer<Float>, ldv: Int,
                              count nk: Int, valueDim dv: Int, scale: Float, causal: Bool,
                              out: UnsafeMutablePointer<Float>) {
    precondition(!causal || nk >= nq, "sharedKVAttention: \(nq) causal queries but \(nk) keys")
    guard nq > 0 else { return }
    guard nk > 0 else { out.initialize(repeating: 0, count: nq * heads * dv); return }
    // A decoding token's heads against a cache of up to a few MB: direct dot products, 4 heads per pass over the
    // keys, no GEMM packing. Harness, Zen 3, one core, 8 heads of 576: 1.9–2.2× the one-head kernel over 64–1000
    // keys, 1.1–1.2× oneDNN's sgemm path below over 128–192 keys, level with it from 544 to 1800.
    if nq * heads <= 32 && nk * ldk <= 1 << 20 {
        let visible = (0..<(nq * heads)).map { row in causal ? nk - nq + row / heads + 1 : nk }
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: 4 * nk)
        defer { scores.deallocate() }
        prism_attention_rows(q, nq * heads, d, keys, ldk, values, ldv, dv, visible, scale, scores, out)
        return
    }
    // tokens per block so the scores stay a few MB
    let block = max(1, min(nq, (1 << 20) / max(1, heads * nk)))
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: block * heads * nk)
    defer { scores.deallocate() }
    var t0 = 0
    while t0 < nq {
        let tb = min(block, nq - t0), rows = tb * heads
        // scores [tb·H, nk] = scale · Q · Kᵀ
        BLAS.sgemm(transB: true, m: rows, n: nk, k: d, alpha: scale, a: q + t0 * heads * d, lda: d,
                   b: keys, ldb: ldk, c: scores, ldc: nk)
        Parallel.forEach(rows, minChunk: max(1, 16384 / nk)) { range in
            for row in range {
                let p = scores + row * nk
                // query token t0 + row / heads sees keys up to nk − nq + its index
                let visible = causal ? nk - nq + t0 + row / heads + 1 : nk
                for j in visible..<nk { p[j] = -.infinity }
                prism_softmax_row(p, p, nk)
            }
        }
        // out [tb·H, dv] = P · V
        BLAS.sgemm(m: rows, n: dv, k: nk, a: scores, lda: nk, b: values, ldb: ldv, c: out + t0 * heads * dv, ldc: dv)
        t0 += tb
    }
}
