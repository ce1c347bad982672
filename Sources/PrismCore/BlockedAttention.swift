/// Scaled dot-product attention like `attention(...)` (packed segments, q: [Tq, H, D], k: [Tk, H, D],
/// v: [Tk, H, Dv], no causal mask, no grouped heads), but computed a block of query rows at a time in one
/// reused scratch buffer: scores never exist as a full [nq, nk] matrix, so a 4096-token global attention
/// touches a few MB instead of allocating and zero-filling 64 MB per head.
///
/// `bias(segment, head, rows, scores)` is added before softmax: `rows` are query rows relative to the
/// segment start, `scores` points at a row-major [rows.count, nk] block (nk = the segment's key count).
public func blockedAttention(q: Tensor, k: Tensor, v: Tensor, cuSeqlensQ: [Int], cuSeqlensK: [Int], scale: Float,
                             blockRows: Int = 256,
                             bias: ((_ segment: Int, _ head: Int, _ rows: Range<Int>,
                                     _ scores: UnsafeMutablePointer<Float>) -> Void)? = nil) -> Tensor {
    precondition(q.rank == 3 && k.rank == 3 && v.rank == 3 && k.shape[1] == q.shape[1] && v.shape[1] == q.shape[1]
                 && k.shape[2] == q.shape[2] && v.shape[0] == k.shape[0],
                 "blockedAttention: q \(q.shape) k \(k.shape) v \(v.shape)")
    precondition(cuSeqlensQ.count == cuSeqlensK.count && cuSeqlensQ.first == 0 && cuSeqlensK.first == 0
                 && cuSeqlensQ.last == q.shape[0] && cuSeqlensK.last == k.shape[0] && blockRows > 0,
                 "blockedAttention: cu_seqlens \(cuSeqlensQ) / \(cuSeqlensK) do not cover \(q.shape[0]) / \(k.shape[0]) rows")
    let h = q.shape[1], d = q.shape[2], dv = v.shape[2]
    let segments = cuSeqlensQ.count - 1
    let maxKeys = (0..<segments).map { cuSeqlensK[$0 + 1] - cuSeqlensK[$0] }.max() ?? 0
    let maxRows = min(blockRows, (0..<segments).map { cuSeqlensQ[$0 + 1] - cuSeqlensQ[$0] }.max() ?? 0)
    var scratch = [Float](repeating: 0, count: max(1, maxRows * maxKeys))   // a few query rows need a few rows
    var out = Tensor(zeros: [q.shape[0], h, dv])
    q.data.withUnsafeBufferPointer { pq in k.data.withUnsafeBufferPointer { pk in v.data.withUnsafeBufferPointer { pv in
        out.data.withUnsafeMutableBufferPointer { po in scratch.withUnsafeMutableBufferPointer { ps in
            let sc = ps.baseAddress!
            for s in 0..<segments {
                let q0 = cuSeqlensQ[s], nq = cuSeqlensQ[s + 1] - q0
                let k0 = cuSeqlensK[s], nk = cuSeqlensK[s + 1] - k0
                guard nq > 0, nk > 0 else { continue }
                for head in 0..<h {
                    var r0 = 0
                    while r0 < nq {
                        let rows = min(blockRows, nq - r0)
                        // scores [rows, nk] = scale · q[rows] · kᵀ (head rows are h·d apart: lda/ldb handle it)
                        BLAS.sgemm(transB: true, m: rows, n: nk, k: d, alpha: scale,
                                   a: pq.baseAddress! + ((q0 + r0) * h + head) * d, lda: h * d,
                                   b: pk.baseAddress! + (k0 * h + head) * d, ldb: h * d, c: sc, ldc: nk)
                        bias?(s, head, r0..<(r0 + rows), sc)
                        Parallel.forEach(rows, minChunk: max(1, 8192 / nk)) { range in
                            for r in range { softmaxRow(sc + r * nk, sc + r * nk, nk) }
                        }
                        BLAS.sgemm(m: rows, n: dv, k: nk, a: sc, lda: nk,
                                   b: pv.baseAddress! + (k0 * h + head) * dv, ldb: h * dv,
                                   c: po.baseAddress! + ((q0 + r0) * h + head) * dv, ldc: h * dv)
                        r0 += rows
                    }
                }
            }
        }}
    }}}
    return out
}
