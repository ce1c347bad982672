import Foundation
import PrismCore
import PrismIO

// Mask decoder (spec §3): output tokens + prompt tokens through the two-way transformer, image tokens
// upscaled 4× by two transposed convs, one hypernetwork MLP per mask token, IoU head.

public final class MaskDecoder: @unchecked Sendable {
    public let config: SamMaskDecoderConfig
    let outputTokens: Tensor               // [1 + numMaskTokens, C]: iou token, then mask tokens
    let transformer: TwoWayTransformer
    private let up1w: TensorView, up1b: TensorView, up2w: TensorView, up2b: TensorView
    private let upNormW: Tensor, upNormB: Tensor
    private let hypernetworks: [FeedForward]
    private let iouHead: FeedForward

    init(config: SamMaskDecoderConfig, weights: WeightScope) {
        self.config = config
        let c = config.hiddenSize, m = config.numMaskTokens
        outputTokens = Tensor.concatenate(rows: [weights.float("iou_token.weight", [1, c]),
                                                 weights.float("mask_tokens.weight", [m, c])])
        transformer = TwoWayTransformer(config: config, weights: weights.scope("transformer"))
        up1w = weights.tensor("upscale_conv1.weight", [c, c / 4, 2, 2]); up1b = weights.tensor("upscale_conv1.bias", [c / 4])
        up2w = weights.tensor("upscale_conv2.weight", [c / 4, c / 8, 2, 2]); up2b = weights.tensor("upscale_conv2.bias", [c / 8])
        upNormW = weights.float("upscale_layer_norm.weight", [c / 4]); upNormB = weights.float("upscale_layer_norm.bias", [c / 4])
        hypernetworks = (0..<m).map {
            FeedForward(input: c, hidden: c, output: c / 8, depth: 3, weights: weights.scope("output_hypernetworks_mlps.\($0)"))
        }
        iouHead = FeedForward(input: c, hidden: config.iouHeadHiddenDim, output: m, depth: config.iouHeadDepth,
                              weights: weights.scope("iou_prediction_head"))
    }

    /// image, imagePE, dense: [C, g, g]; sparse: [N, C] → low-res logits [M, 4g, 4g] and IoU predictions [M],
    /// M = numMultimaskOutputs with `multimask` (tokens 1…), else 1 (token 0).
    public func callAsFunction(image: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor,
                               multimask: Bool) -> (logits: Tensor, iou: Tensor) {
        let c = config.hiddenSize, g = image.shape[1], m = config.numMaskTokens
        let (hs, keys) = transformerOutputs(image: image, imagePE: imagePE, sparse: sparse, dense: dense)

        // Upscaling: [g·g, C] → [C, g, g] → [C/4, 2g, 2g] → [C/8, 4g, 4g]
        var up = convTranspose2d(transpose2d(keys).reshaped([c, g, g]), weight: up1w, bias: up1b, stride: 2)
        // LayerNorm2d: normalise each pixel over channels, i.e. rows of the [pixels, C/4] view
        let side2 = up.shape[1]
        up = transpose2d(layerNorm(transpose2d(up.reshaped([c / 4, side2 * side2])), weight: upNormW, bias: upNormB, eps: 1e-6))
            .reshaped([c / 4, side2, side2])
        up.apply(.gelu)
        up = convTranspose2d(up, weight: up2w, bias: up2b, stride: 2)
        up.apply(.gelu)

        // hyper [M, C/8] · upscaled [C/8, 16g²] → [M, 4g, 4g]
        let hyper = Tensor.concatenate(rows: (0..<m).map { hypernetworks[$0](hs.slice(rows: (1 + $0)..<(2 + $0))) })
        let side = up.shape[1]
        let logits = matmul(hyper, up.reshaped([c / 8, side * side])).reshaped([m, side, side])
        let iou = iouHead(hs.slice(rows: 0..<1)).reshaped([m])

        let chosen = multimask ? 1..<m : 0..<1
        return (logits.slice(rows: chosen), Tensor(shape: [chosen.count], data: Array(iou.data[chosen])))
    }
}

extension MaskDecoder {
    /// The two-way transformer on [output tokens; sparse] and image + dense: (queries [T, C], keys [g·g, C]).
    func transformerOutputs(image: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor) -> (queries: Tensor, keys: Tensor) {
        let c = config.hiddenSize, g = image.shape[1]
        // tokens [1 + M + N, C]
        let tokens = sparse.rows > 0 ? Tensor.concatenate(rows: [outputTokens, sparse]) : outputTokens
        // [C, g, g] → [g·g, C]
        let src = transpose2d((image + dense).reshaped([c, g * g]))
        let pe = transpose2d(imagePE.reshaped([c, g * g]))
        return transformer(tokens: tokens, image: src, imagePE: pe)
    }
}

/// proj_in → ReLU → (layers.i → ReLU)* → proj_out; no sigmoid (SAM's heads output raw values).
private struct FeedForward {
    let inW: TensorView, inB: TensorView, outW: TensorView, outB: TensorView
    let hidden: [(w: TensorView, b: TensorView)]

    init(input: Int, hidden h: Int, output: Int, depth: Int, weights: WeightScope) {
        inW = weights.tensor("proj_in.weight", [h, input]); inB = weights.tensor("proj_in.bias", [h])
        outW = weights.tensor("proj_out.weight", [output, h]); outB = weights.tensor("proj_out.bias", [output])
        hidden = (0..<max(0, depth - 2)).map { (weights.tensor("layers.\($0).weight", [h, h]), weights.tensor("layers.\($0).bias", [h])) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = linear(x, inW, bias: inB)
        h.apply(.relu)
        for layer in hidden {
            h = linear(h, layer.w, bias: layer.b)
            h.apply(.relu)
        }
        return linear(h, outW, bias: outB)
    }
}
