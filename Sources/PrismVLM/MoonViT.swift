// MoonViT, Kimi-VL's native-resolution vision tower (specs/kimi_vl.md §3): patch embedding, learned position
// table resized bicubically to each image's grid, 27 pre-norm blocks with 2-D RoPE and attention confined to
// each image of a packed batch (cu_seqlens, no padding), final LayerNorm, then the parameter-free 2×2 merge.
import Foundation
import PrismCore
import PrismIO

/// Patches per column (h) and per row (w) of one image.
public struct GridSize: Equatable, Sendable {
    public let h: Int, w: Int
    public init(h: Int, w: Int) { self.h = h; self.w = w }
    public var patches: Int { h * w }
}

public final class MoonViT {
    public let config: VisionConfig
    let patchWeight: Tensor          // patch_embed.proj.weight as [D, 3·P·P] (conv k = s = P on one patch)
    let patchBias: Tensor
    let posEmbCHW: Tensor            // patch_embed.pos_emb.weight [H0, W0, D] seen as a D-channel image
    let blocks: [EncoderBlock]
    let finalNormWeight, finalNormBias: Tensor
    /// Named activations of every forward (nil: nothing recorded).
    public var trace: Trace?

    /// `weights` scoped at `vision_tower`.
    public init(config: VisionConfig, weights w: WeightScope) {
        self.config = config
        let d = config.hiddenSize, p = config.patchSize
        patchWeight = w.float("patch_embed.proj.weight", [d, 3, p, p]).reshaped([d, 3 * p * p])
        patchBias = w.float("patch_embed.proj.bias", [d])
        posEmbCHW = w.float("patch_embed.pos_emb.weight", [config.initPosEmbHeight, config.initPosEmbWidth, d]).permuted([2, 0, 1])
        blocks = (0..<config.numHiddenLayers).map { EncoderBlock(config, w.scope("encoder.blocks.\($0)")) }
        finalNormWeight = w.float("encoder.final_layernorm.weight", [d])
        finalNormBias = w.float("encoder.final_layernorm.bias", [d])
    }

    /// pixelValues [L, 3, P, P] (all images' patches back to back, row-major per image) → encoded [L, D].
    public func encode(pixelValues: Tensor, grids: [GridSize]) -> Tensor {
        let p = config.patchSize
        let l = grids.reduce(0) { $0 + $1.patches }
        precondition(pixelValues.shape == [l, 3, p, p], "MoonViT: pixel values \(pixelValues.shape) for grids \(grids)")
        // patch embedding [L, D] + per-image interpolated position table
        var x = linear(pixelValues.reshaped([l, 3 * p * p]), patchWeight, bias: patchBias)
        x.addInPlace(Tensor.concatenate(rows: grids.map(positionEmbedding)))
        trace?.record("vit.embeddings", x)
        // 2-D RoPE angles [L, headDim/2], restarting at (0, 0) for every image
        let angles = Tensor.concatenate(rows: grids.map { ropeAngles($0) })
        let cu = cumulativeSeqlens(grids.map(\.patches))
        for (i, block) in blocks.enumerated() {
            x = block(x, angles: angles, cuSeqlens: cu)
            trace?.record("vit.layer", layer: i, x)
        }
        let out = layerNorm(x, weight: finalNormWeight, bias: finalNormBias, eps: VisionConfig.layerNormEps)
        trace?.record("vit.final_norm", out)
        return out
    }

    /// The encoder followed by the 2×2 merge: [Σ (h/kh)(w/kw), kh·kw, D].
    public func callAsFunction(pixelValues: Tensor, grids: [GridSize]) -> Tensor {
        merge(encode(pixelValues: pixelValues, grids: grids), grids: grids)
    }

    // MARK: - Position embedding

    /// The learned table resized to the image grid (bicubic, align_corners = false) → [h·w, D] row-major.
    func positionEmbedding(_ g: GridSize) -> Tensor {
        let d = config.hiddenSize
        let chw = (g.h == config.initPosEmbHeight && g.w == config.initPosEmbWidth)
            ? posEmbCHW : resize(posEmbCHW, height: g.h, width: g.w, mode: .bicubic)
        // [D, h, w] → [h·w, D]
        return chw.reshaped([d, g.patches]).transposed
    }

    // MARK: - 2-D rotary angles

    /// [h·w, headDim/2]: complex pair 2i turns by column·ω_i, pair 2i+1 by row·ω_i, ω_i = θ^(−4i/headDim).
    /// (The reference concatenates [x, y] per frequency: even = width/column, odd = height/row; spec §3.3.)
    func ropeAngles(_ g: GridSize) -> Tensor {
        precondition(g.h <= VisionConfig.ropeMaxGrid && g.w <= VisionConfig.ropeMaxGrid, "MoonViT: grid \(g) exceeds the 512×512 RoPE table")
        let hd = config.headDim, nf = hd / 4
        let omega = (0..<nf).map { 1 / powf(VisionConfig.ropeTheta, Float(4 * $0) / Float(hd)) }
        return Tensor(shape: [g.patches, 2 * nf], unsafeUninitialized: { out in
            for r in 0..<g.h {
                for c in 0..<g.w {
                    let base = (r * g.w + c) * 2 * nf
                    for i in 0..<nf {
                        out[base + 2 * i] = Float(c) * omega[i]
                        out[base + 2 * i + 1] = Float(r) * omega[i]
                    }
                }
            }
        })
    }

    // MARK: - 2×2 merge

    /// Per image, [h, w, D] viewed as [h/kh, kh, w/kw, kw, D] → [h/kh, w/kw, kh, kw, D]: each merged token holds
    /// its kh·kw sub-vectors in (top-left, top-right, bottom-left, bottom-right) order.
    public func merge(_ x: Tensor, grids: [GridSize]) -> Tensor {
        let kh = config.mergeKernelSize[0], kw = config.mergeKernelSize[1], d = x.lastDim
        var parts: [Tensor] = []
        var start = 0
        for g in grids {
            precondition(g.h % kh == 0 && g.w % kw == 0, "MoonViT.merge: grid \(g) not divisible by \(kh)×\(kw)")
            let img = x.slice(rows: start..<(start + g.patches)).reshaped([g.h / kh, kh, g.w / kw, kw, d])
            parts.append(img.permuted([0, 2, 1, 3, 4]).reshaped([(g.h / kh) * (g.w / kw), kh * kw, d]))
            start += g.patches
        }
        return Tensor.concatenate(rows: parts)
    }
}

// MARK: - Encoder block

final class EncoderBlock {
    let heads, headDim: Int
    let norm0Weight, norm0Bias, norm1Weight, norm1Bias: Tensor
    let wqkv, wo, fc0, fc1: TensorView
    let wqkvBias, woBias, fc0Bias, fc1Bias: TensorView

    init(_ c: VisionConfig, _ w: WeightScope) {
        let d = c.hiddenSize, i = c.intermediateSize
        heads = c.numAttentionHeads; headDim = c.headDim
        norm0Weight = w.float("norm0.weight", [d]); norm0Bias = w.float("norm0.bias", [d])
        norm1Weight = w.float("norm1.weight", [d]); norm1Bias = w.float("norm1.bias", [d])
        wqkv = w.tensor("wqkv.weight", [3 * d, d]); wqkvBias = w.tensor("wqkv.bias", [3 * d])
        wo = w.tensor("wo.weight", [d, d]); woBias = w.tensor("wo.bias", [d])
        fc0 = w.tensor("mlp.fc0.weight", [i, d]); fc0Bias = w.tensor("mlp.fc0.bias", [i])
        fc1 = w.tensor("mlp.fc1.weight", [d, i]); fc1Bias = w.tensor("mlp.fc1.bias", [d])
    }

    func callAsFunction(_ x: Tensor, angles: Tensor, cuSeqlens cu: [Int]) -> Tensor {
        let l = x.rows, d = x.lastDim, eps = VisionConfig.layerNormEps
        // [L, 3·D], rows laid out [3][heads][headDim]
        let qkv = linear(layerNorm(x, weight: norm0Weight, bias: norm0Bias, eps: eps), wqkv, bias: wqkvBias)
        // [L, H, headDim] each
        var q = qkv.slice(lastAxis: 0..<d).reshaped([l, heads, headDim])
        var k = qkv.slice(lastAxis: d..<(2 * d)).reshaped([l, heads, headDim])
        let v = qkv.slice(lastAxis: (2 * d)..<(3 * d)).reshaped([l, heads, headDim])
        applyRotary(&q, angles: angles, layout: .interleaved)
        applyRotary(&k, angles: angles, layout: .interleaved)
        // non-causal, block-diagonal over images; tiled (no [L, L] scores), QKᵀ and PV in the model's precision
        let a = flashAttention(q: q, k: k, v: v, cuSeqlensQ: cu, cuSeqlensK: cu, scale: 1 / Float(headDim).squareRoot(),
                               precision: wqkv.precision)
        var h = x
        h += linear(a.reshaped([l, d]), wo, bias: woBias)
        // tanh-GELU MLP
        var u = linear(layerNorm(h, weight: norm1Weight, bias: norm1Bias, eps: eps), fc0, bias: fc0Bias)
        u.apply(.geluTanh)
        h += linear(u, fc1, bias: fc1Bias)
        return h
    }
}
