import Foundation
import PrismCore
import PrismIO

// The mask decoder's attention (spec §3): q/k/v projections to inner = C / downsample, H heads of width d,
// softmax(q kᵀ / √d) v, projection back to C. No positional bias.
//
// The cross attentions pair T ≈ 5–10 tokens with N = g² image rows (4096 for ViT-B). Projecting the image
// side costs N·C·inner per projection; moving the weights over to the token side costs N·C·(H·T) instead:
//   tokens → image  q_t·(W_k x_i + b_k) = (W_kᵀ q_t)·x_i + q_t·b_k, and q_t·b_k is constant along the softmax
//                   axis i, so it drops out; Σ_i p_i (W_v x_i + b_v) = W_v (Σ_i p_i x_i) + b_v as Σ_i p_i = 1.
//   image → tokens  (W_q y_i + b_q)·k_t = y_i·(W_qᵀ k_t) + b_q·k_t (this bias stays: the softmax runs over t),
//                   out_proj(o_i) = Σ_{h,t} p_{i,h,t} (W_o,h v_{t,h}) + b_o.
// Everything is per head h: W_q,h, W_k,h, W_v,h are rows h·d..<(h+1)·d of the [inner, C] weights, W_o,h the
// same columns of out_proj's [C, inner]. H·T < inner means T < d: the reassociated forms win up to 15 tokens
// for ViT-B (d = 16), i.e. up to 10 sparse prompt tokens; `form` can force them (for tests).

/// Which form the cross attentions take for T tokens.
enum CrossAttentionForm: Sendable {
    case cheaper            // reassociated while T < head width d, else direct
    case reassociated       // always reassociated
}

struct DecoderAttention {
    let qw: Tensor, qb: Tensor, kw: Tensor, kb: Tensor, vw: Tensor, vb: Tensor
    let ow: Tensor, ob: Tensor
    let owT: Tensor                                   // out_proj weight as [inner, C]: W_o,h are row blocks
    let heads: Int, headDim: Int
    let form: CrossAttentionForm
    var scale: Float { 1 / Float(headDim).squareRoot() }

    func reassociates(tokens t: Int) -> Bool { form == .reassociated || t < headDim }

    init(config: SamMaskDecoderConfig, downsample: Int, form: CrossAttentionForm = .cheaper, weights: WeightScope) {
        let c = config.hiddenSize, inner = c / downsample
        qw = weights.float("q_proj.weight", [inner, c]); qb = weights.float("q_proj.bias", [inner])
        kw = weights.float("k_proj.weight", [inner, c]); kb = weights.float("k_proj.bias", [inner])
        vw = weights.float("v_proj.weight", [inner, c]); vb = weights.float("v_proj.bias", [inner])
        ow = weights.float("out_proj.weight", [c, inner]); ob = weights.float("out_proj.bias", [c])
        owT = transpose2d(ow)
        heads = config.numAttentionHeads; headDim = inner / config.numAttentionHeads; self.form = form
    }

    func projectQuery(_ x: Tensor) -> Tensor { linear(x, qw, bias: qb) }
    func projectKey(_ x: Tensor) -> Tensor { linear(x, kw, bias: kb) }
    func projectValue(_ x: Tensor) -> Tensor { linear(x, vw, bias: vb) }

    /// The direct form: project all three inputs [n, C], attend, project back.
    func callAsFunction(query: Tensor, key: Tensor, value: Tensor) -> Tensor {
        attend(q: projectQuery(query), k: projectKey(key), v: projectValue(value))
    }

    /// Attention on projected q [nq, inner], k, v [nk, inner], then out_proj → [nq, C].
    func attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
        let o = blockedAttention(q: q.reshaped([q.rows, heads, headDim]), k: k.reshaped([k.rows, heads, headDim]),
                                 v: v.reshaped([v.rows, heads, headDim]), cuSeqlensQ: [0, q.rows], cuSeqlensK: [0, k.rows],
                                 scale: scale)
        return linear(o.reshaped([q.rows, heads * headDim]), ow, bias: ob)
    }

    // MARK: - Reassociated cross attentions

    /// Tokens → image without projecting the image: query [T, C] tokens, key, value [N, C] image rows → [T, C].
    func tokensToImage(query: Tensor, key: Tensor, value: Tensor) -> Tensor {
        guard reassociates(tokens: query.rows) else { return self(query: query, key: key, value: value) }
        let t = query.rows, h = heads, d = headDim, inner = h * d, c = key.lastDim
        // a[(h, t)] = W_k,hᵀ q_{t,h} / √d  [H·T, C];  scores[(h, t), i] = a·x_i, softmax over i
        let a = headBlocks(projectQuery(query), kw, alpha: scale)
        var p = matmul(a, key, transposeB: true)                 // [H·T, N]
        softmaxRows(&p)
        // z[(h, t)] = Σ_i p x_i  [H·T, C];  o[t, head h] = W_v,h z[(h, t)] + b_v,h
        let z = matmul(p, value)
        var o = Tensor(shape: [t, inner], unsafeUninitialized: { out in
            z.data.withUnsafeBufferPointer { pz in vw.data.withUnsafeBufferPointer { pw in
                for head in 0..<h {
                    BLAS.sgemm(transB: true, m: t, n: d, k: c, a: pz.baseAddress! + head * t * c, lda: c,
                               b: pw.baseAddress! + head * d * c, ldb: c, c: out.baseAddress! + head * d, ldc: inner)
                }
            }}
        })
        o.addInPlace(vb)
        return linear(o, ow, bias: ob)
    }

    /// K + Attn(query: image rows y [N, C], key, value: tokens [T, C]) without projecting the image; K = `residual`.
    func imageToTokens(query: Tensor, key: Tensor, value: Tensor, residual: Tensor) -> Tensor {
        guard reassociates(tokens: key.rows) else {
            return imageToTokens(projectedQuery: projectQuery(query), key: key, value: value, residual: residual)
        }
        let k = projectKey(key)
        let n = query.rows, c = query.lastDim, ht = heads * k.rows
        // scores[i, (h, t)] = y_i·(W_q,hᵀ k_{t,h}) / √d + b_q,h·k_{t,h} / √d: the bias row first, the GEMM onto it
        var s = repeatedRows(Tensor.concatenate(rows: [headDots(qb, k), Tensor(shape: [1], data: [1])]), n)
        let b = headBlocks(k, qw, alpha: scale)
        query.data.withUnsafeBufferPointer { py in b.data.withUnsafeBufferPointer { pb in s.data.withUnsafeMutableBufferPointer { ps in
            BLAS.sgemm(transB: true, m: n, n: ht, k: c, a: py.baseAddress!, lda: c, b: pb.baseAddress!, ldb: c,
                       beta: 1, c: ps.baseAddress!, ldc: ht + 1)
        }}}
        return imageToTokens(scores: s, value: value, residual: residual)
    }

    /// K + Attn(…) with the image side already projected: q [N, inner]; key, value: tokens [T, C]; K = `residual`.
    func imageToTokens(projectedQuery q: Tensor, key: Tensor, value: Tensor, residual: Tensor) -> Tensor {
        let k = projectKey(key)
        guard reassociates(tokens: key.rows) else {
            var out = attend(q: q, k: k, v: projectValue(value))
            out.addInPlace(residual)
            return out
        }
        let n = q.rows, t = k.rows, h = heads, d = headDim, inner = h * d
        var pattern = Tensor(zeros: [h * t + 1])
        pattern[flat: h * t] = 1
        var s = repeatedRows(pattern, n)
        q.data.withUnsafeBufferPointer { pq in k.data.withUnsafeBufferPointer { pk in s.data.withUnsafeMutableBufferPointer { ps in
            for head in 0..<h {       // scores[:, (head, ·)] = q_head · k_headᵀ / √d
                BLAS.sgemm(transB: true, m: n, n: t, k: d, alpha: scale, a: pq.baseAddress! + head * d, lda: inner,
                           b: pk.baseAddress! + head * d, ldb: inner, c: ps.baseAddress! + head * t, ldc: h * t + 1)
            }
        }}}
        return imageToTokens(scores: s, value: value, residual: residual)
    }

    /// scores [N, H·T + 1] whose last column is 1: softmax over t within each head, then
    /// K + Σ_{h,t} p_{i,h,t} u_{(h,t)} + 1·b_o with u_{(h,t)} = W_o,h v_{t,h}: one GEMM accumulated onto a copy of K.
    private func imageToTokens(scores: Tensor, value: Tensor, residual: Tensor) -> Tensor {
        let t = value.rows, h = heads, width = h * t + 1, n = scores.rows, c = residual.lastDim
        var p = scores
        p.data.withUnsafeMutableBufferPointer { ps in
            let base = ps.baseAddress!
            Parallel.forEach(n, minChunk: 256) { rows in
                for i in rows { softmaxSegments(base + i * width, count: h, length: t) }
            }
        }
        let u = Tensor.concatenate(rows: [headBlocks(projectValue(value), owT, alpha: 1), ob.reshaped([1, c])])
        var out = residual
        p.data.withUnsafeBufferPointer { pp in u.data.withUnsafeBufferPointer { pu in out.data.withUnsafeMutableBufferPointer { po in
            BLAS.sgemm(m: n, n: c, k: width, a: pp.baseAddress!, lda: width, b: pu.baseAddress!, ldb: c,
                       beta: 1, c: po.baseAddress!, ldc: c)
        }}}
        return out
    }

    /// [H·T, C] whose block h is alpha · x[:, h·d..<(h+1)·d] · w[h·d..<(h+1)·d, :], for x [T, inner], w [inner, C].
    private func headBlocks(_ x: Tensor, _ w: Tensor, alpha: Float) -> Tensor {
        let t = x.rows, d = headDim, inner = heads * d, c = w.lastDim
        return Tensor(shape: [heads * t, c], unsafeUninitialized: { out in
            x.data.withUnsafeBufferPointer { px in w.data.withUnsafeBufferPointer { pw in
                for head in 0..<heads {
                    BLAS.sgemm(m: t, n: c, k: d, alpha: alpha, a: px.baseAddress! + head * d, lda: inner,
                               b: pw.baseAddress! + head * d * c, ldb: c, c: out.baseAddress! + head * t * c, ldc: c)
                }
            }}
        })
    }

    /// [H·T]: b_h·k_{t,h} / √d for a bias b [inner] and projected tokens k [T, inner].
    private func headDots(_ b: Tensor, _ k: Tensor) -> Tensor {
        let t = k.rows, d = headDim, inner = heads * d
        var out = [Float](repeating: 0, count: heads * t)
        for head in 0..<heads { for j in 0..<t { for e in 0..<d {
            out[head * t + j] += b.data[head * d + e] * k.data[j * inner + head * d + e]
        }}}
        return Tensor(shape: [heads * t], data: out.map { $0 * scale })
    }
}

/// Row-wise softmax in place, rows over the cores.
private func softmaxRows(_ x: inout Tensor) {
    let d = x.lastDim, rows = x.rows
    x.data.withUnsafeMutableBufferPointer { p in
        let base = p.baseAddress!
        Parallel.forEach(rows, minChunk: max(1, 8192 / max(1, d))) { r in
            for i in r { softmaxRow(base + i * d, base + i * d, d) }
        }
    }
}

/// [rows, pattern.count], every row a copy of `pattern` (a bias for a GEMM to accumulate onto with beta = 1).
func repeatedRows(_ pattern: Tensor, _ rows: Int) -> Tensor {
    let d = pattern.count
    return Tensor(shape: [rows, d], unsafeUninitialized: { out in
        pattern.data.withUnsafeBufferPointer { src in
            for r in 0..<rows { (out.baseAddress! + r * d).update(from: src.baseAddress!, count: d) }
        }
    })
}

/// x [n, k] · w [k, m] + bias [m], the bias laid down first and the GEMM accumulated onto it.
func affine(_ x: Tensor, _ w: Tensor, bias: Tensor) -> Tensor {
    let n = x.rows, k = x.lastDim, m = w.lastDim
    precondition(w.rows == k && bias.count == m, "affine: \(x.shape) · \(w.shape) + \(bias.shape)")
    var y = repeatedRows(bias, n)
    x.data.withUnsafeBufferPointer { px in w.data.withUnsafeBufferPointer { pw in y.data.withUnsafeMutableBufferPointer { py in
        BLAS.sgemm(m: n, n: m, k: k, a: px.baseAddress!, lda: k, b: pw.baseAddress!, ldb: m, beta: 1, c: py.baseAddress!, ldc: m)
    }}}
    return y
}
