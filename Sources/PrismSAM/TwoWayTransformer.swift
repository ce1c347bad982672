import Foundation
import PrismCore
import PrismIO

// SAM's two-way transformer (spec §3): tokens attend to the image, the image attends back to the tokens.
// Queries Q: [T, C] prompt/output tokens; keys K: [g·g, C] image tokens. P = the initial tokens (query PE),
// Kpe = dense positional embedding. LayerNorms use the decoder's layer_norm_eps (1e-6 in transformers),
// except layer_norm_final_attn, which transformers builds with PyTorch's default 1e-5.

final class TwoWayTransformer: @unchecked Sendable {
    private let layers: [TwoWayBlock]
    private let finalAttention: DecoderAttention
    private let finalNormW: Tensor, finalNormB: Tensor

    init(config: SamMaskDecoderConfig, weights: WeightScope) {
        layers = (0..<config.numHiddenLayers).map {
            TwoWayBlock(config: config, skipFirstLayerPE: $0 == 0, weights: weights.scope("layers.\($0)"))
        }
        finalAttention = DecoderAttention(config: config, downsample: config.attentionDownsampleRate,
                                          weights: weights.scope("final_attn_token_to_image"))
        finalNormW = weights.float("layer_norm_final_attn.weight", [config.hiddenSize])
        finalNormB = weights.float("layer_norm_final_attn.bias", [config.hiddenSize])
    }

    /// tokens P: [T, C], image: [g·g, C], imagePE: [g·g, C] → (queries [T, C], keys [g·g, C]).
    func callAsFunction(tokens: Tensor, image: Tensor, imagePE: Tensor) -> (queries: Tensor, keys: Tensor) {
        var q = tokens, k = image
        for layer in layers { (q, k) = layer(queries: q, keys: k, queryPE: tokens, keyPE: imagePE) }
        // Q = LN_final(Q + Attn_t2i(q = Q + P, k = K + Kpe, v = K))
        var a = finalAttention(query: q + tokens, key: k + imagePE, value: k)
        a.addInPlace(q)
        return (layerNorm(a, weight: finalNormW, bias: finalNormB, eps: 1e-5), k)
    }
}

// MARK: - Block

private struct TwoWayBlock {
    let selfAttention: DecoderAttention, tokenToImage: DecoderAttention, imageToToken: DecoderAttention
    let norms: [(w: Tensor, b: Tensor)]            // layer_norm1 … layer_norm4
    let lin1w: TensorView, lin1b: TensorView, lin2w: TensorView, lin2b: TensorView
    let act: Activation, eps: Float, skipFirstLayerPE: Bool

    init(config: SamMaskDecoderConfig, skipFirstLayerPE: Bool, weights: WeightScope) {
        let c = config.hiddenSize
        selfAttention = DecoderAttention(config: config, downsample: 1, weights: weights.scope("self_attn"))
        tokenToImage = DecoderAttention(config: config, downsample: config.attentionDownsampleRate,
                                        weights: weights.scope("cross_attn_token_to_image"))
        imageToToken = DecoderAttention(config: config, downsample: config.attentionDownsampleRate,
                                        weights: weights.scope("cross_attn_image_to_token"))
        norms = (1...4).map { (weights.float("layer_norm\($0).weight", [c]), weights.float("layer_norm\($0).bias", [c])) }
        lin1w = weights.tensor("mlp.lin1.weight", [config.mlpDim, c]); lin1b = weights.tensor("mlp.lin1.bias", [config.mlpDim])
        lin2w = weights.tensor("mlp.lin2.weight", [c, config.mlpDim]); lin2b = weights.tensor("mlp.lin2.bias", [c])
        act = config.hiddenAct; eps = config.layerNormEps; self.skipFirstLayerPE = skipFirstLayerPE
    }

    private func norm(_ i: Int, _ x: Tensor) -> Tensor { layerNorm(x, weight: norms[i].w, bias: norms[i].b, eps: eps) }

    func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor) -> (Tensor, Tensor) {
        // 1. self-attention; the first layer has neither PE nor residual
        var q: Tensor
        if skipFirstLayerPE {
            q = selfAttention(query: queries, key: queries, value: queries)
        } else {
            let qp = queries + queryPE
            q = selfAttention(query: qp, key: qp, value: queries)
            q.addInPlace(queries)
        }
        q = norm(0, q)
        // 2. tokens → image
        let keysPE = keys + keyPE
        var t2i = tokenToImage(query: q + queryPE, key: keysPE, value: keys)
        t2i.addInPlace(q)
        q = norm(1, t2i)
        // 3. MLP
        var m = linear(q, lin1w, bias: lin1b)
        m.apply(act)
        var mlp = linear(m, lin2w, bias: lin2b)
        mlp.addInPlace(q)
        q = norm(2, mlp)
        // 4. image → tokens
        var i2t = imageToToken(query: keysPE, key: q + queryPE, value: q)
        i2t.addInPlace(keys)
        return (q, norm(3, i2t))
    }
}

// MARK: - Attention

/// q/k/v projections to C / downsample, heads, softmax(q kᵀ / √d) v, projection back to C. No positional bias.
struct DecoderAttention {
    let qw: TensorView, qb: TensorView, kw: TensorView, kb: TensorView, vw: TensorView, vb: TensorView
    let ow: TensorView, ob: TensorView
    let heads: Int, headDim: Int

    init(config: SamMaskDecoderConfig, downsample: Int, weights: WeightScope) {
        let c = config.hiddenSize, inner = c / downsample
        qw = weights.tensor("q_proj.weight", [inner, c]); qb = weights.tensor("q_proj.bias", [inner])
        kw = weights.tensor("k_proj.weight", [inner, c]); kb = weights.tensor("k_proj.bias", [inner])
        vw = weights.tensor("v_proj.weight", [inner, c]); vb = weights.tensor("v_proj.bias", [inner])
        ow = weights.tensor("out_proj.weight", [c, inner]); ob = weights.tensor("out_proj.bias", [c])
        heads = config.numAttentionHeads; headDim = inner / config.numAttentionHeads
    }

    func callAsFunction(query: Tensor, key: Tensor, value: Tensor) -> Tensor {
        // [n, C] → [n, H, D]
        let q = linear(query, qw, bias: qb).reshaped([query.rows, heads, headDim])
        let k = linear(key, kw, bias: kb).reshaped([key.rows, heads, headDim])
        let v = linear(value, vw, bias: vb).reshaped([value.rows, heads, headDim])
        let o = blockedAttention(q: q, k: k, v: v, cuSeqlensQ: [0, query.rows], cuSeqlensK: [0, key.rows],
                                 scale: 1 / Float(headDim).squareRoot())
        // [n, H, D] → [n, H·D]
        return linear(o.reshaped([query.rows, heads * headDim]), ow, bias: ob)
    }
}
