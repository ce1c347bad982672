import Foundation
import PrismCore
import PrismIO

// Mask decoder (spec §3): output tokens + prompt tokens through the two-way transformer, image tokens
// upscaled 4× by two transposed convs, one hypernetwork MLP per mask token, IoU head.
// `prepare` builds the image side once (rows, and layer 0's image projections when prompts share the dense
// prompt: the predictor keeps one per embedding for prompts without a mask input); `decode` runs a prompt.

public final class MaskDecoder: @unchecked Sendable {
    public let config: SamMaskDecoderConfig
    let outputTokens: Tensor               // [1 + numMaskTokens, C]: iou token, then mask tokens
    let transformer: TwoWayTransformer
    /// The transposed convs' weights as [in, (a, b, out)] and their biases tiled over the 2×2 block (a, b).
    private let up1w: Tensor, up1b: Tensor, up2w: Tensor, up2b: Tensor
    private let upNormW: Tensor, upNormB: Tensor
    private let hypernetworks: [FeedForward]
    private let iouHead: FeedForward

    init(config: SamMaskDecoderConfig, form: CrossAttentionForm = .cheaper, weights: WeightScope) {
        self.config = config
        let c = config.hiddenSize, m = config.numMaskTokens
        outputTokens = Tensor.concatenate(rows: [weights.float("iou_token.weight", [1, c]),
                                                 weights.float("mask_tokens.weight", [m, c])])
        transformer = TwoWayTransformer(config: config, form: form, weights: weights.scope("transformer"))
        // PyTorch ConvTranspose2d layout [in, out, a, b] → [in, (a, b, out)]
        func blockWeight(_ w: Tensor) -> Tensor { w.permuted([0, 2, 3, 1]).reshaped([w.shape[0], -1]) }
        func blockBias(_ b: Tensor) -> Tensor { Tensor.concatenate(rows: Array(repeating: b, count: 4)) }
        up1w = blockWeight(weights.float("upscale_conv1.weight", [c, c / 4, 2, 2]))
        up1b = blockBias(weights.float("upscale_conv1.bias", [c / 4]))
        up2w = blockWeight(weights.float("upscale_conv2.weight", [c / 4, c / 8, 2, 2]))
        up2b = blockBias(weights.float("upscale_conv2.bias", [c / 8]))
        upNormW = weights.float("upscale_layer_norm.weight", [c / 4]); upNormB = weights.float("upscale_layer_norm.bias", [c / 4])
        hypernetworks = (0..<m).map {
            FeedForward(input: c, hidden: c, output: c / 8, depth: 3, weights: weights.scope("output_hypernetworks_mlps.\($0)"))
        }
        iouHead = FeedForward(input: c, hidden: config.iouHeadHiddenDim, output: m, depth: config.iouHeadDepth,
                              weights: weights.scope("iou_prediction_head"))
    }

    /// image, imagePE, dense: [C, g, g]; sparse: [N, C] → low-res logits [M, 4g, 4g] and IoU predictions [M],
    /// M = numMultimaskOutputs with `multimask` (tokens 1…), else 1 (token 0). Prepares the image side for
    /// this call only; `prepare` + `decode` reuse it across prompts.
    public func callAsFunction(image: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor,
                               multimask: Bool) -> (logits: Tensor, iou: Tensor) {
        decode(prepare(image: image, imagePE: imagePE, dense: dense), sparse: sparse, multimask: multimask)
    }

    /// The prompt-independent image side: [C, g, g] inputs to rows, and with `projectLayer0` layer 0's image
    /// projections (worth it when several prompts share the dense prompt; one prompt is cheaper without).
    public func prepare(image: Tensor, imagePE: Tensor, dense: Tensor, projectLayer0: Bool = false) -> DecoderImage {
        let c = config.hiddenSize, g = image.shape[1]
        // [C, g, g] → [g·g, C]
        let keys = transpose2d((image + dense).reshaped([c, g * g]))
        let pe = transpose2d(imagePE.reshaped([c, g * g]))
        return DecoderImage(keys: keys, pe: pe, side: g,
                            layer0: projectLayer0 ? transformer.imageProjections(keys: keys, keysPE: keys + pe) : nil)
    }

    /// Low-res logits [M, 4g, 4g] and IoU predictions [M] for sparse prompts [N, C] on a prepared image.
    public func decode(_ image: DecoderImage, sparse: Tensor, multimask: Bool) -> (logits: Tensor, iou: Tensor) {
        let (logits, iou) = decode(image, sparse: sparse, multimask: multimask, keep: { _ in true })
        return (logits!, iou)
    }

    /// As `decode`, but the IoU predictions come first and the masks (the upscaling, most of a prompt's cost)
    /// only when `keep(iou)` says they are wanted; nil logits otherwise. Segment-everything filters on the
    /// predicted IoU before it looks at a mask, so it skips the masks it would drop.
    public func decode(_ image: DecoderImage, sparse: Tensor, multimask: Bool,
                       keep: ([Float]) -> Bool) -> (logits: Tensor?, iou: Tensor) {
        let m = config.numMaskTokens
        let (hs, keys) = transformerOutputs(image, sparse: sparse)
        let chosen = multimask ? 1..<m : 0..<1
        let iou = Tensor(shape: [chosen.count], data: Array(iouHead(hs.slice(rows: 0..<1)).data[chosen]))
        guard keep(iou.data) else { return (nil, iou) }
        // one hypernetwork per returned mask token: [M, C/8]
        let hyper = Tensor.concatenate(rows: chosen.map { hypernetworks[$0](hs.slice(rows: (1 + $0)..<(2 + $0))) })
        return (masks(keys: keys, side: image.side, hyper: hyper), iou)
    }

    /// keys [g·g, C] upscaled 4× (two 2×2 stride-2 transposed convs, LayerNorm2d and GELU between, GELU after),
    /// then hyper [M, C/8] · upscaled [C/8, 4g·4g] → [M, 4g, 4g].
    private func masks(keys: Tensor, side g: Int, hyper: Tensor) -> Tensor {
        let c = config.hiddenSize, m = hyper.rows, o = c / 8
        // A 2×2 stride-2 transposed conv is one GEMM: input pixel (y, x) times [in, (a, b, out)] gives the
        // 2×2 block of output pixels (2y + a, 2x + b). Everything after is per pixel, so the pixels stay in this
        // block order, rows (y, x, a1, b1, a2, b2), until the logits are written; LayerNorm2d is a row LayerNorm.
        var up = affine(keys, up1w, bias: up1b).reshaped([4 * g * g, c / 4])
        normActivate(&up, norm: (upNormW, upNormB, 1e-6))
        up = affine(up, up2w, bias: up2b)                                   // [g², 16·C/8]
        up.apply(.gelu)
        let blocked = matmul(up.reshaped([16 * g * g, o]), hyper, transposeB: true)    // [16g², M]
        // the logits from block order into place, one input row y at a time
        let s = 4 * g
        return Tensor(shape: [m, s, s], unsafeUninitialized: { out in
            blocked.data.withUnsafeBufferPointer { pb in
                let logits = out.baseAddress!, base = pb.baseAddress!
                Parallel.forEach(g, minChunk: 4) { ys in
                    for y in ys { for x in 0..<g { for a1 in 0..<2 { for b1 in 0..<2 { for a2 in 0..<2 { for b2 in 0..<2 {
                        let row = base + (((((y * g + x) * 2 + a1) * 2 + b1) * 2 + a2) * 2 + b2) * m
                        let at = (4 * y + 2 * a1 + a2) * s + 4 * x + 2 * b1 + b2
                        for k in 0..<m { logits[k * s * s + at] = row[k] }
                    }}}}}}
                }
            }
        })
    }
}

/// DecoderImage keeps the image side of the decoder in row-major [g·g, C]: keys = image + dense, the positional
/// embedding, and optionally layer 0's prompt-independent projections. Immutable once built.
public final class DecoderImage: @unchecked Sendable {
    let keys: Tensor, pe: Tensor, side: Int
    let layer0: ImageProjections?

    init(keys: Tensor, pe: Tensor, side: Int, layer0: ImageProjections?) {
        self.keys = keys; self.pe = pe; self.side = side; self.layer0 = layer0
    }
}

extension MaskDecoder {
    /// The two-way transformer on [output tokens; sparse] and the prepared image: (queries [T, C], keys [g·g, C]).
    func transformerOutputs(_ image: DecoderImage, sparse: Tensor) -> (queries: Tensor, keys: Tensor) {
        // tokens [1 + M + N, C]
        let tokens = sparse.rows > 0 ? Tensor.concatenate(rows: [outputTokens, sparse]) : outputTokens
        return transformer(tokens: tokens, image: image)
    }

    func transformerOutputs(image: Tensor, imagePE: Tensor, sparse: Tensor, dense: Tensor) -> (queries: Tensor, keys: Tensor) {
        transformerOutputs(prepare(image: image, imagePE: imagePE, dense: dense), sparse: sparse)
    }
}

/// x[r] = GELU(LN(x[r])) for every row, in place, rows over the cores.
private func normActivate(_ x: inout Tensor, norm: (w: Tensor, b: Tensor, eps: Float)) {
    let d = x.lastDim, rows = x.rows
    norm.w.data.withUnsafeBufferPointer { w in norm.b.data.withUnsafeBufferPointer { b in
        x.data.withUnsafeMutableBufferPointer { px in
            let base = px.baseAddress!
            Parallel.forEach(rows, minChunk: 1024) { r in
                for i in r { layerNormRow(base + i * d, base + i * d, d, weight: w.baseAddress, bias: b.baseAddress, eps: norm.eps) }
                Activation.gelu.apply(base + r.lowerBound * d, count: r.count * d)
            }
        }
    }}
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
