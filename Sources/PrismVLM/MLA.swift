// Multi-head latent attention, q_lora_rank = null (specs/kimi_vl.md §5.1).
//
//   q      = x·W_qᵀ                       [T, H, nope + rope]
//   a      = x·W_kvaᵀ                     [T, r + rope]   → c̃ = RMSNorm(a[:r]), k_pe = a[r:] (shared by heads)
//   k_h    = [c̃·W_kb,hᵀ ; rope(k_pe)],  v_h = c̃·W_vb,hᵀ
//   out    = softmax(q_h·k_hᵀ / √(nope + rope))·v_h, causal inside each packed segment → W_o
//
// Only [c̃ ; rope(k_pe)] goes into the KV cache. Two exact evaluation orders share it:
//  - expanded: rebuild K and V for every cached token with kv_b_proj (cheap when many new tokens),
//  - absorbed: fold W_kb into the query and W_vb into the output, so attention runs directly on the
//    latent as one shared KV head (cheap for decode: no per-token expansion).
import Foundation
import PrismCore
import PrismIO

public enum MLAStrategy: Sendable {
    /// Absorbed when the new tokens are few compared with the cost of expanding the cache, else expanded.
    case automatic, expanded, absorbed
}

/// One packed segment: `count` new rows of the flat batch that continue the sequence held by `cache`.
struct Segment {
    let start: Int
    let count: Int
    let cache: KVCache
}

final class MLA {
    let heads, nope, rope, r, dv: Int
    let theta: Float
    /// Kimi-VL / DeepSeek pair the rope dims interleaved (2i, 2i+1); `rope_interleave: false` uses rotate-half pairs.
    let ropeLayout: RotaryLayout
    let qProj, kvAProj, kvBProj, oProj: TensorView
    let kvANorm: Tensor
    /// HF builds kv_a_layernorm without eps → DeepseekV3RMSNorm's default 1e-6 (spec §5).
    static let latentNormEps: Float = 1e-6

    init(_ c: TextConfig, _ w: WeightScope) {
        heads = c.numAttentionHeads; nope = c.qkNopeHeadDim; rope = c.qkRopeHeadDim
        r = c.kvLoraRank; dv = c.vHeadDim; theta = c.ropeTheta
        ropeLayout = c.ropeInterleave ? .interleaved : .halfSplit
        let d = c.hiddenSize
        qProj = w.tensor("q_proj.weight", [heads * (nope + rope), d])
        kvAProj = w.tensor("kv_a_proj_with_mqa.weight", [r + rope, d])
        kvANorm = w.float("kv_a_layernorm.weight", [r])
        kvBProj = w.tensor("kv_b_proj.weight", [heads * (nope + dv), r])
        oProj = w.tensor("o_proj.weight", [d, heads * dv])
    }

    /// x: [T, D] holding the segments back to back → [T, D]. Appends each segment's latents to its cache
    /// (the caller commits them once every layer has run).
    func callAsFunction(_ x: Tensor, segments: [Segment], layer: Int, strategy: MLAStrategy) -> Tensor {
        let t = x.rows, qk = nope + rope, width = r + rope
        // [T, H, nope + rope]
        var q = linear(x, qProj).reshaped([t, heads, qk])
        // [T, r + rope] → c̃ [T, r], k_pe [T, 1, rope]
        let a = linear(x, kvAProj)
        let latent = rmsNorm(a.slice(lastAxis: 0..<r), weight: kvANorm, eps: Self.latentNormEps)
        var kPe = a.slice(lastAxis: r..<width).reshaped([t, 1, rope])

        // positions continue each segment's cache
        var positions: [Int] = []
        for s in segments { positions += (s.cache.count..<(s.cache.count + s.count)) }
        let angles = Rotary.angles(positions: positions, dim: rope, theta: theta)
        applyRotary(&q, angles: angles, start: nope, layout: ropeLayout)
        applyRotary(&kPe, angles: angles, layout: ropeLayout)

        // cache rows [c̃ ; k_pe] per new token, then gather every segment's full history: [S, r + rope]
        let newRows = Tensor.concatenate(lastAxis: [latent, kPe.reshaped([t, rope])])
        var history: [Float] = []
        var keyLengths: [Int] = []
        newRows.data.withUnsafeBufferPointer { p in
            for s in segments {
                s.cache.append(layer: layer, rows: UnsafeBufferPointer(rebasing: p[(s.start * width)..<((s.start + s.count) * width)]))
                let rows = s.cache.rows(layer: layer)
                history += rows
                keyLengths.append(rows.count / width)
            }
        }
        let cached = Tensor(shape: [history.count / width, width], data: history)
        let cuQ = cumulativeSeqlens(segments.map(\.count)), cuK = cumulativeSeqlens(keyLengths)
        let scale = 1 / Float(qk).squareRoot()

        let absorb: Bool
        switch strategy {
        case .absorbed: absorb = true
        case .expanded: absorb = false
        case .automatic:
            // extra attention work of the latent form per new token vs. expanding the whole cache once
            absorb = t * max(1, 2 * r + rope - (qk + dv)) < r * (nope + dv)
        }
        // [T, H, dv]
        let out = absorb ? absorbed(q, cached, cuQ, cuK, scale) : expanded(q, cached, cuQ, cuK, scale)
        return linear(out.reshaped([t, heads * dv]), oProj)
    }

    /// K_h = [c̃·W_kb,hᵀ ; k_pe], V_h = c̃·W_vb,hᵀ for every cached token, then ordinary attention.
    private func expanded(_ q: Tensor, _ cached: Tensor, _ cuQ: [Int], _ cuK: [Int], _ scale: Float) -> Tensor {
        let s = cached.rows
        // [S, H, nope + dv]
        let kv = linear(cached.slice(lastAxis: 0..<r), kvBProj).reshaped([s, heads, nope + dv])
        let kPe = cached.slice(lastAxis: r..<(r + rope))                      // [S, rope]
        // [S, H, nope + rope]: k_nope per head, then the shared rotated k_pe
        let k = Tensor(shape: [s, heads, nope + rope], unsafeUninitialized: { out in
            kv.data.withUnsafeBufferPointer { src in kPe.data.withUnsafeBufferPointer { pe in
                for i in 0..<s {
                    for h in 0..<heads {
                        let o = (i * heads + h) * (nope + rope), sIn = (i * heads + h) * (nope + dv)
                        for j in 0..<nope { out[o + j] = src[sIn + j] }
                        for j in 0..<rope { out[o + nope + j] = pe[i * rope + j] }
                    }
                }
            }}
        })
        let v = kv.slice(lastAxis: nope..<(nope + dv))                        // [S, H, dv]
        // tiled causal attention: no [T, S] scores per head; QKᵀ and PV in the model's precision
        return flashAttention(q: q, k: k, v: v, cuSeqlensQ: cuQ, cuSeqlensK: cuK, causal: true, scale: scale,
                              precision: kvBProj.precision)
    }

    /// q_lat,h = [q_nope,h·W_kb,h ; q_pe,h] against the latent keys [c̃ ; k_pe] as one shared head;
    /// the attended latent is mapped to values per head: out_h = o_lat,h·W_vb,hᵀ.
    private func absorbed(_ q: Tensor, _ cached: Tensor, _ cuQ: [Int], _ cuK: [Int], _ scale: Float) -> Tensor {
        let t = q.shape[0], qk = nope + rope, width = r + rope, s = cached.rows
        let wkv = kvBProj.toTensor()                                          // [H·(nope + dv), r]
        // [T, H, r + rope]
        var qLat = Tensor(zeros: [t, heads, width])
        q.data.withUnsafeBufferPointer { pq in wkv.data.withUnsafeBufferPointer { pw in
            qLat.data.withUnsafeMutableBufferPointer { po in
                for h in 0..<heads {
                    // q_nope,h [T, nope] · W_kb,h [nope, r]
                    BLAS.sgemm(m: t, n: r, k: nope, a: pq.baseAddress! + h * qk, lda: heads * qk,
                               b: pw.baseAddress! + h * (nope + dv) * r, ldb: r,
                               c: po.baseAddress! + h * width, ldc: heads * width)
                    for i in 0..<t { for j in 0..<rope { po[(i * heads + h) * width + r + j] = pq[(i * heads + h) * qk + nope + j] } }
                }
            }
        }}
        let k = cached.reshaped([s, 1, width])
        let v = cached.slice(lastAxis: 0..<r).reshaped([s, 1, r])
        // [T, H, r]
        let oLat = attention(q: qLat, k: k, v: v, cuSeqlensQ: cuQ, cuSeqlensK: cuK, causal: true, scale: scale)
        return Tensor(shape: [t, heads, dv], unsafeUninitialized: { out in
            oLat.data.withUnsafeBufferPointer { pl in wkv.data.withUnsafeBufferPointer { pw in
                for h in 0..<heads {
                    // o_lat,h [T, r] · W_vb,hᵀ [r, dv]
                    BLAS.sgemm(transB: true, m: t, n: dv, k: r, a: pl.baseAddress! + h * r, lda: heads * r,
                               b: pw.baseAddress! + (h * (nope + dv) + nope) * r, ldb: r,
                               c: out.baseAddress! + h * dv, ldc: heads * dv)
                }
            }}
        })
    }
}
