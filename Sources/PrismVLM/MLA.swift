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
    let qProj, kvAProj, oProj: TensorView
    /// W_UK and W_UV per head in the form the absorbed order applies them as ordinary linears: W_UK as
    /// [H, r, nope] (row j of head h maps q_nope,h to latent column j) and W_UV as [H, dv, r]. llama.cpp's GGUF
    /// stores exactly these (attn_k_b, attn_v_b); from a checkpoint's kv_b_proj they are prepared once, in its
    /// dtype, the first time a decode needs them.
    private(set) lazy var kB: TensorView = kvBCheckpoint.map { MLA.wUK($0, heads: heads, nope: nope, dv: dv) } ?? kBFile!
    private(set) lazy var vB: TensorView = kvBCheckpoint.map { MLA.wUV($0, heads: heads, nope: nope, dv: dv) } ?? vBFile!
    private let kBFile, vBFile: TensorView?
    let kvANorm: Tensor
    /// kv_b_proj [H·(nope + dv), r] for the expanded order: the checkpoint's tensor, or for GGUF (split form
    /// only) rebuilt in float the first time a long prompt needs it.
    private let kvBCheckpoint: TensorView?
    private(set) lazy var kvBProj: TensorView = kvBCheckpoint ?? MLA.joinKVB(kBFile!, vBFile!)
    /// Bytes of kv_b_proj, or of W_UK and W_UV as the file stores them (without building either form).
    var kvBBytes: Int { kvBCheckpoint?.bytes.count ?? (kBFile!.bytes.count + vBFile!.bytes.count) }

    /// Builds the lazily prepared W_UK and W_UV now (before several cores decode with this layer at once).
    func prepareAbsorbed() { _ = kB; _ = vB }

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
        if w.contains("k_b_proj.weight") || w.contains("v_b_proj.weight") {
            kBFile = w.tensor("k_b_proj.weight", [heads, r, nope])
            vBFile = w.tensor("v_b_proj.weight", [heads, dv, r])
            kvBCheckpoint = nil
        } else {
            kvBCheckpoint = w.tensor("kv_b_proj.weight", [heads * (nope + dv), r])
            kBFile = nil; vBFile = nil
        }
        oProj = w.tensor("o_proj.weight", [d, heads * dv])
    }

    /// x: [T, D] holding the segments back to back → [T, D]. Appends each segment's latents to its cache
    /// (the caller commits them once every layer has run).
    func callAsFunction(_ x: Tensor, segments: [Segment], layer: Int, strategy: MLAStrategy) -> Tensor {
        let t = x.rows, qk = nope + rope, width = r + rope
        // both projections of x in one pass over the cores (decode-sized x: one hand-off, x quantised once)
        let qa = linearBatch([(x, qProj), (x, kvAProj)])
        // [T, H, nope + rope]
        var q = qa[0].reshaped([t, heads, qk])
        // [T, r + rope] → c̃ [T, r], k_pe [T, 1, rope]
        let a = qa[1]
        let latent = rmsNorm(a.slice(lastAxis: 0..<r), weight: kvANorm, eps: Self.latentNormEps)
        var kPe = a.slice(lastAxis: r..<width).reshaped([t, 1, rope])

        // positions continue each segment's cache
        var positions: [Int] = []
        for s in segments { positions += (s.cache.count..<(s.cache.count + s.count)) }
        let angles = Rotary.angles(positions: positions, dim: rope, theta: theta)
        applyRotary(&q, angles: angles, start: nope, layout: ropeLayout)
        applyRotary(&kPe, angles: angles, layout: ropeLayout)

        // cache rows [c̃ ; k_pe] per new token
        let newRows = Tensor.concatenate(lastAxis: [latent, kPe.reshaped([t, rope])])
        newRows.data.withUnsafeBufferPointer { p in
            for s in segments {
                s.cache.append(layer: layer, rows: UnsafeBufferPointer(rebasing: p[(s.start * width)..<((s.start + s.count) * width)]))
            }
        }
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
        let out: Tensor
        if absorb {
            out = absorbed(q, segments: segments, layer: layer, scale: scale)
        } else {
            // every segment's full history [S, r + rope]
            var history: [Float] = []
            var keyLengths: [Int] = []
            for s in segments {
                let rows = s.cache.rows(layer: layer)
                history += rows
                keyLengths.append(rows.count / width)
            }
            let cached = Tensor(shape: [history.count / width, width], data: history)
            let cuQ = cumulativeSeqlens(segments.map(\.count)), cuK = cumulativeSeqlens(keyLengths)
            out = expanded(q, cached, cuQ, cuK, scale)
        }
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

    /// q_lat,h = [W_UK,h·q_nope,h ; q_pe,h] against the latent keys [c̃ ; k_pe] as one key/value head shared by
    /// all heads (read in place from the cache, once per token), then out_h = W_UV,h·o_lat,h. Per token the
    /// attention costs H·S·(2r + rope), independent of the per-head K/V widths.
    private func absorbed(_ q: Tensor, segments: [Segment], layer: Int, scale: Float) -> Tensor {
        let t = q.shape[0], width = r + rope
        // [T, H, r + rope]
        let qLat = Tensor.concatenate(lastAxis: [headwiseLinear(q.slice(lastAxis: 0..<nope), kB), q.slice(lastAxis: nope..<(nope + rope))])
        // [T, H, r]
        var oLat = Tensor(zeros: [t, heads, r])
        qLat.data.withUnsafeBufferPointer { pq in oLat.data.withUnsafeMutableBufferPointer { po in
            let pq = pq.baseAddress!, po = po.baseAddress!
            // a batch of decoding sequences: the cores take sequences as they free up (their caches differ in
            // length). Fewer sequences than cores: a decoding token's heads are split too (contiguous in q and out),
            // or one sequence would leave the other cores idle for the whole attention.
            let splitHeads = segments.count < Parallel.threads
            let items: [(segment: Segment, heads: Range<Int>)] = segments.flatMap { s in
                guard splitHeads && s.count == 1 else { return [(s, 0..<heads)] }
                let parts = min(heads, Parallel.threads)
                return (0..<parts).map { p in (s, (heads * p / parts)..<(heads * (p + 1) / parts)) }
            }
            Parallel.forEach(items.count, pieces: items.count) { range in
                for (s, hs) in items[range] {
                    s.cache.withRows(layer: layer) { rows in
                        sharedKVAttention(q: pq + (s.start * heads + hs.lowerBound) * width, queries: s.count, heads: hs.count,
                                          dim: width, keys: rows.baseAddress!, ldk: width, values: rows.baseAddress!, ldv: width,
                                          count: rows.count / width, valueDim: r, scale: scale, causal: true,
                                          out: po + (s.start * heads + hs.lowerBound) * r)
                    }
                }
            }
        }}
        return headwiseLinear(oLat, vB)
    }

    // MARK: - Weight layouts

    /// W_UK [H, r, nope] (transposed per head) from kv_b_proj [H·(nope + dv), r], in its storage type (element
    /// moves only, nothing is rounded; types other than f32/f16/bf16 are widened to f32).
    static func wUK(_ kv: TensorView, heads: Int, nope: Int, dv: Int) -> TensorView {
        let r = kv.lastDim, src = movable(kv)
        let e = src.dtype.byteSize, base = src.bytes.baseAddress!
        return TensorView(name: "\(kv.name) (W_UK)", dtype: src.dtype, shape: [heads, r, nope]) { out in
            for h in 0..<heads { for i in 0..<nope {
                let from = base + (h * (nope + dv) + i) * r * e, to = out.baseAddress! + (h * r * nope + i) * e
                for j in 0..<r { (to + j * nope * e).copyMemory(from: from + j * e, byteCount: e) }
            }}
        }
    }

    /// W_UV [H, dv, r] from kv_b_proj: each head's value rows, contiguous.
    static func wUV(_ kv: TensorView, heads: Int, nope: Int, dv: Int) -> TensorView {
        let r = kv.lastDim, src = movable(kv)
        let e = src.dtype.byteSize, base = src.bytes.baseAddress!
        return TensorView(name: "\(kv.name) (W_UV)", dtype: src.dtype, shape: [heads, dv, r]) { out in
            for h in 0..<heads {
                (out.baseAddress! + h * dv * r * e).copyMemory(from: base + (h * (nope + dv) + nope) * r * e, byteCount: dv * r * e)
            }
        }
    }

    static func movable(_ kv: TensorView) -> TensorView {
        [.bf16, .f16, .f32].contains(kv.dtype) ? kv : TensorView(kv.toTensor(), name: kv.name)
    }

    /// kv_b_proj [H·(nope + dv), r] in f32 from W_UK [H, r, nope] and W_UV [H, dv, r] (any storage type).
    static func joinKVB(_ kB: TensorView, _ vB: TensorView) -> TensorView {
        let heads = kB.shape[0], r = kB.shape[1], nope = kB.shape[2], dv = vB.shape[1]
        let k = kB.toTensor(), v = vB.toTensor()
        var kv = Tensor(zeros: [heads * (nope + dv), r])
        kv.data.withUnsafeMutableBufferPointer { o in
            for h in 0..<heads {
                for i in 0..<nope { for j in 0..<r { o[(h * (nope + dv) + i) * r + j] = k.data[(h * r + j) * nope + i] } }
                for c in 0..<dv { for j in 0..<r { o[(h * (nope + dv) + nope + c) * r + j] = v.data[(h * dv + c) * r + j] } }
            }
        }
        return TensorView(kv, name: "kv_b_proj (from attn_k_b, attn_v_b)")
    }
}
