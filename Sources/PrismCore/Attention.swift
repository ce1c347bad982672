/// Scaled dot-product attention over packed, variable-length segments (flash-attn "varlen" semantics).
///
/// q: [Tq, H, Dk], k: [Tk, Hkv, Dk], v: [Tk, Hkv, Dv], with H a multiple of Hkv (grouped queries).
/// Segment s covers query rows cuQ[s]..<cuQ[s+1] and key rows cuK[s]..<cuK[s+1]; a query never sees
/// another segment's keys, and nothing is padded. With `causal`, segments are bottom-right aligned
/// (query i of a segment with nq queries and nk keys sees keys 0 ... nk − nq + i), which is what a
/// KV cache needs. `bias`, if given, is added to the scores of segment s, head h before softmax.
public func attention(q: Tensor, k: Tensor, v: Tensor, cuSeqlensQ: [Int], cuSeqlensK: [Int],
                      causal: Bool, scale: Float,
                      bias: ((_ segment: Int, _ head: Int, _ scores: inout Tensor) -> Void)? = nil) -> Tensor {
    precondition(q.rank == 3 && k.rank == 3 && v.rank == 3, "attention: q \(q.shape) k \(k.shape) v \(v.shape)")
    let h = q.shape[1], dk = q.shape[2], hkv = k.shape[1], dv = v.shape[2]
    precondition(k.shape[2] == dk && v.shape[1] == hkv && v.shape[0] == k.shape[0] && h % hkv == 0,
                 "attention: q \(q.shape) k \(k.shape) v \(v.shape)")
    precondition(cuSeqlensQ.count == cuSeqlensK.count && cuSeqlensQ.first == 0 && cuSeqlensK.first == 0
                 && cuSeqlensQ.last == q.shape[0] && cuSeqlensK.last == k.shape[0],
                 "attention: cu_seqlens \(cuSeqlensQ) / \(cuSeqlensK) do not cover \(q.shape[0]) / \(k.shape[0]) rows")
    let group = h / hkv
    var out = Tensor(zeros: [q.shape[0], h, dv])
    for s in 0..<(cuSeqlensQ.count - 1) {
        let q0 = cuSeqlensQ[s], nq = cuSeqlensQ[s + 1] - q0
        let k0 = cuSeqlensK[s], nk = cuSeqlensK[s + 1] - k0
        guard nq > 0 else { continue }
        precondition(!causal || nk >= nq, "attention: causal segment \(s) has \(nq) queries but \(nk) keys")
        for head in 0..<h {
            let kh = head / group
            // Strided views: rows of q/k/v for this head are h·dk (or hkv·dk) apart, which BLAS's lda handles.
            var scores = Tensor(zeros: [nq, nk])
            q.data.withUnsafeBufferPointer { pq in k.data.withUnsafeBufferPointer { pk in
                scores.data.withUnsafeMutableBufferPointer { ps in
                    guard nk > 0 else { return }
                    BLAS.sgemm(transB: true, m: nq, n: nk, k: dk, alpha: scale,
                               a: pq.baseAddress! + (q0 * h + head) * dk, lda: h * dk,
                               b: pk.baseAddress! + (k0 * hkv + kh) * dk, ldb: hkv * dk,
                               c: ps.baseAddress!, ldc: nk)
                }
            }}
            if let bias { bias(s, head, &scores) }
            if causal {
                scores.data.withUnsafeMutableBufferPointer { ps in
                    for i in 0..<nq { for j in (nk - nq + i + 1)..<max(nk, nk - nq + i + 1) { ps[i * nk + j] = -.infinity } }
                }
            }
            let probs = softmax(scores)
            probs.data.withUnsafeBufferPointer { pp in v.data.withUnsafeBufferPointer { pv in
                out.data.withUnsafeMutableBufferPointer { po in
                    guard nk > 0 else { return }
                    BLAS.sgemm(m: nq, n: dv, k: nk, a: pp.baseAddress!, lda: nk,
                               b: pv.baseAddress! + (k0 * hkv + kh) * dv, ldb: hkv * dv,
                               c: po.baseAddress! + (q0 * h + head) * dv, ldc: h * dv)
                }
            }}
        }
    }
    return out
}

/// cu_seqlens for segment lengths: [0, l0, l0+l1, …].
public func cumulativeSeqlens(_ lengths: [Int]) -> [Int] {
    var cu = [0]
    for l in lengths { cu.append(cu.last! + l) }
    return cu
}
