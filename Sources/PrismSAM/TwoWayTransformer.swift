import Foundation
import PrismCore
import PrismIO

// SAM's two-way transformer (spec §3): tokens attend to the image, the image attends back to the tokens.
// Queries Q: [T, C] prompt/output tokens; keys K: [g·g, C] image tokens. P = the initial tokens (query PE),
// Kpe = dense positional embedding. LayerNorms use the decoder's layer_norm_eps (1e-6 in transformers),
// except layer_norm_final_attn, which transformers builds with PyTorch's default 1e-5.
//
// The cross attentions never project the image rows per prompt (see DecoderAttention): they either use the
// reassociated forms or, in layer 0, projections computed once per image (`ImageProjections`).

final class TwoWayTransformer: @unchecked Sendable {
    private let layers: [TwoWayBlock]
    private let finalAttention: DecoderAttention
    private let finalNormW: Tensor, finalNormB: Tensor

    init(config: SamMaskDecoderConfig, form: CrossAttentionForm = .cheaper, weights: WeightScope) {
        layers = (0..<config.numHiddenLayers).map {
            TwoWayBlock(config: config, skipFirstLayerPE: $0 == 0, form: form, weights: weights.scope("layers.\($0)"))
        }
        finalAttention = DecoderAttention(config: config, downsample: config.attentionDownsampleRate, form: form,
                                          weights: weights.scope("final_attn_token_to_image"))
        finalNormW = weights.float("layer_norm_final_attn.weight", [config.hiddenSize])
        finalNormB = weights.float("layer_norm_final_attn.bias", [config.hiddenSize])
    }

    /// Layer 0's image-side projections of keys K and K + Kpe: they depend on the prompt only through the
    /// dense prompt, so they can be computed once per (embedding, dense prompt).
    func imageProjections(keys: Tensor, keysPE: Tensor) -> ImageProjections {
        let first = layers[0]
        return ImageProjections(t2iKey: first.tokenToImage.projectKey(keysPE), t2iValue: first.tokenToImage.projectValue(keys),
                                i2tQuery: first.imageToToken.projectQuery(keysPE))
    }

    /// tokens P: [T, C], image: keys [g·g, C] and their PE → (queries [T, C], keys [g·g, C]).
    func callAsFunction(tokens: Tensor, image: DecoderImage) -> (queries: Tensor, keys: Tensor) {
        var q = tokens, k = image.keys
        for (i, layer) in layers.enumerated() {
            (q, k) = layer(queries: q, keys: k, queryPE: tokens, keyPE: image.pe, projected: i == 0 ? image.layer0 : nil)
        }
        // Q = LN_final(Q + Attn_t2i(q = Q + P, k = K + Kpe, v = K))
        var a = finalAttention.tokensToImage(query: q + tokens, key: k + image.pe, value: k)
        a.addInPlace(q)
        return (layerNorm(a, weight: finalNormW, bias: finalNormB, eps: 1e-5), k)
    }
}

/// Layer 0's image-side projections, [g·g, inner] each: token→image keys and values, image→token queries.
struct ImageProjections {
    let t2iKey: Tensor, t2iValue: Tensor, i2tQuery: Tensor
}

// MARK: - Block

private struct TwoWayBlock {
    let selfAttention: DecoderAttention, tokenToImage: DecoderAttention, imageToToken: DecoderAttention
    let norms: [(w: Tensor, b: Tensor)]            // layer_norm1 … layer_norm4
    let lin1w: TensorView, lin1b: TensorView, lin2w: TensorView, lin2b: TensorView
    let act: Activation, eps: Float, skipFirstLayerPE: Bool

    init(config: SamMaskDecoderConfig, skipFirstLayerPE: Bool, form: CrossAttentionForm, weights: WeightScope) {
        let c = config.hiddenSize
        selfAttention = DecoderAttention(config: config, downsample: 1, weights: weights.scope("self_attn"))
        tokenToImage = DecoderAttention(config: config, downsample: config.attentionDownsampleRate, form: form,
                                        weights: weights.scope("cross_attn_token_to_image"))
        imageToToken = DecoderAttention(config: config, downsample: config.attentionDownsampleRate, form: form,
                                        weights: weights.scope("cross_attn_image_to_token"))
        norms = (1...4).map { (weights.float("layer_norm\($0).weight", [c]), weights.float("layer_norm\($0).bias", [c])) }
        lin1w = weights.tensor("mlp.lin1.weight", [config.mlpDim, c]); lin1b = weights.tensor("mlp.lin1.bias", [config.mlpDim])
        lin2w = weights.tensor("mlp.lin2.weight", [c, config.mlpDim]); lin2b = weights.tensor("mlp.lin2.bias", [c])
        act = config.hiddenAct; eps = config.layerNormEps; self.skipFirstLayerPE = skipFirstLayerPE
    }

    private func norm(_ i: Int, _ x: Tensor) -> Tensor { layerNorm(x, weight: norms[i].w, bias: norms[i].b, eps: eps) }

    /// `projected`: this block's image-side projections of `keys`, when precomputed.
    func callAsFunction(queries: Tensor, keys: Tensor, queryPE: Tensor, keyPE: Tensor,
                        projected: ImageProjections?) -> (Tensor, Tensor) {
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
        let keysPE = projected == nil ? keys + keyPE : nil
        var t2i = if let projected {
            tokenToImage.attend(q: tokenToImage.projectQuery(q + queryPE), k: projected.t2iKey, v: projected.t2iValue)
        } else {
            tokenToImage.tokensToImage(query: q + queryPE, key: keysPE!, value: keys)
        }
        t2i.addInPlace(q)
        q = norm(1, t2i)
        // 3. MLP
        var m = linear(q, lin1w, bias: lin1b)
        m.apply(act)
        var mlp = linear(m, lin2w, bias: lin2b)
        mlp.addInPlace(q)
        q = norm(2, mlp)
        // 4. image → tokens
        let i2t = if let projected {
            imageToToken.imageToTokens(projectedQuery: projected.i2tQuery, key: q + queryPE, value: q, residual: keys)
        } else {
            imageToToken.imageToTokens(query: keysPE!, key: q + queryPE, value: q, residual: keys)
        }
        return (q, norm(3, i2t))
    }
}
