import Foundation
import PrismCore
import PrismIO

// Prompt encoder (spec §2): random-Fourier positional encoding of points and box corners plus learned
// label embeddings (sparse tokens), and the dense prompt: the mask-input path or the no-mask embedding.
// Coordinates here are in the model's input frame (the resized, padded imageSize × imageSize image).

/// A click: positive (inside the object) or negative (outside).
public struct SamPoint: Equatable, Sendable {
    public enum Label: Int, Sendable { case negative = 0, positive = 1 }
    public var x: Float, y: Float
    public var label: Label
    public init(x: Float, y: Float, label: Label = .positive) { self.x = x; self.y = y; self.label = label }
}

/// A box by its top-left and bottom-right corners.
public struct SamBox: Equatable, Sendable {
    public var x0: Float, y0: Float, x1: Float, y1: Float
    public init(x0: Float, y0: Float, x1: Float, y1: Float) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }
}

public final class PromptEncoder: @unchecked Sendable {
    public let config: SamPromptEncoderConfig
    private let gaussian: Tensor                   // [2, F]: row 0 multiplies x, row 1 multiplies y
    private let pointEmbed: [Tensor]               // [C] each: negative, positive, box top-left, box bottom-right
    private let notAPoint: Tensor, noMask: Tensor  // [C]
    private let maskEmbed: MaskEmbedding

    init(config: SamPromptEncoderConfig, fourier: Tensor, weights: WeightScope) {
        self.config = config
        let c = config.hiddenSize
        gaussian = fourier
        pointEmbed = (0..<config.numPointEmbeddings).map { weights.float("point_embed.\($0).weight", [1, c]).reshaped([c]) }
        notAPoint = weights.float("not_a_point_embed.weight", [1, c]).reshaped([c])
        noMask = weights.float("no_mask_embed.weight", [1, c]).reshaped([c])
        maskEmbed = MaskEmbedding(config: config, weights: weights.scope("mask_embed"))
    }

    // MARK: - Positional encoding

    /// pe(c) = [sin(2π u), cos(2π u)], u = (2c − 1) · G, for c = (x, y) normalised to [0, 1].
    func encode(x: Float, y: Float, into out: UnsafeMutablePointer<Float>) {
        let f = gaussian.shape[1]
        let cx = 2 * x - 1, cy = 2 * y - 1
        let twoPi = Float(2 * Double.pi)
        gaussian.data.withUnsafeBufferPointer { g in
            for j in 0..<f {
                let u = twoPi * (cx * g[j] + cy * g[f + j])
                out[j] = sin(u); out[f + j] = cos(u)
            }
        }
    }

    /// Positional encoding of every embedding-grid cell centre: [C, g, g] (constant per model).
    public func densePositionalEmbedding() -> Tensor {
        let g = config.imageEmbeddingSize, c = 2 * gaussian.shape[1]
        // [g·g, C] → [C, g, g]
        let hwc = Tensor(shape: [g * g, c], unsafeUninitialized: { out in
            for i in 0..<g { for j in 0..<g {
                encode(x: (Float(j) + 0.5) / Float(g), y: (Float(i) + 0.5) / Float(g), into: out.baseAddress! + (i * g + j) * c)
            }}
        })
        return hwc.transposed.reshaped([c, g, g])
    }

    // MARK: - Sparse prompts

    /// Sparse tokens [N, C]: points (plus the (0, 0) padding point with label −1 when there is no box),
    /// then the two box corners. Coordinates get +0.5 (pixel centre) and are divided by imageSize.
    public func sparse(points: [SamPoint], box: SamBox?) -> Tensor {
        let c = config.hiddenSize, size = Float(config.imageSize)
        var tokens: [Tensor] = []
        func token(_ x: Float, _ y: Float, plus embed: Tensor) -> Tensor {
            var t = Tensor(shape: [1, c], unsafeUninitialized: { encode(x: (x + 0.5) / size, y: (y + 0.5) / size, into: $0.baseAddress!) })
            t.addInPlace(embed)
            return t
        }
        for p in points { tokens.append(token(p.x, p.y, plus: pointEmbed[p.label.rawValue])) }
        if !points.isEmpty && box == nil {
            tokens.append(notAPoint.reshaped([1, c]))         // label −1: the PE is replaced, not added to
        }
        if let box {
            tokens.append(token(box.x0, box.y0, plus: pointEmbed[2]))
            tokens.append(token(box.x1, box.y1, plus: pointEmbed[3]))
        }
        return tokens.isEmpty ? Tensor(zeros: [0, c]) : Tensor.concatenate(rows: tokens)
    }

    // MARK: - Dense prompt

    /// Dense prompt [C, g, g]: the embedded mask input ([4g, 4g] low-res logits) or the no-mask embedding.
    public func dense(maskInput: Tensor?) -> Tensor {
        let g = config.imageEmbeddingSize, c = config.hiddenSize
        if let maskInput { return maskEmbed(maskInput.reshaped([1, config.maskInputSize, config.maskInputSize])) }
        // [C] broadcast over the grid: [C, g·g]
        return Tensor(shape: [c, g, g], unsafeUninitialized: { out in
            for ch in 0..<c { for i in 0..<(g * g) { out[ch * g * g + i] = noMask.data[ch] } }
        })
    }
}

/// Mask input [1, 4g, 4g] → conv 2×2/2 → LN2d → act → conv 2×2/2 → LN2d → act → conv 1×1 → [C, g, g].
private struct MaskEmbedding {
    let conv1w: TensorView, conv1b: TensorView, conv2w: TensorView, conv2b: TensorView, conv3w: TensorView, conv3b: TensorView
    let ln1w: Tensor, ln1b: Tensor, ln2w: Tensor, ln2b: Tensor
    let eps: Float, act: Activation

    init(config: SamPromptEncoderConfig, weights: WeightScope) {
        let m = config.maskInputChannels, q = m / 4, c = config.hiddenSize
        conv1w = weights.tensor("conv1.weight", [q, 1, 2, 2]); conv1b = weights.tensor("conv1.bias", [q])
        conv2w = weights.tensor("conv2.weight", [m, q, 2, 2]); conv2b = weights.tensor("conv2.bias", [m])
        conv3w = weights.tensor("conv3.weight", [c, m, 1, 1]); conv3b = weights.tensor("conv3.bias", [c])
        ln1w = weights.float("layer_norm1.weight", [q]); ln1b = weights.float("layer_norm1.bias", [q])
        ln2w = weights.float("layer_norm2.weight", [m]); ln2b = weights.float("layer_norm2.bias", [m])
        eps = config.layerNormEps; act = config.hiddenAct
    }

    func callAsFunction(_ mask: Tensor) -> Tensor {
        var h = layerNorm2d(conv2d(mask, weight: conv1w, bias: conv1b, stride: 2), weight: ln1w, bias: ln1b, eps: eps)
        h.apply(act)
        h = layerNorm2d(conv2d(h, weight: conv2w, bias: conv2b, stride: 2), weight: ln2w, bias: ln2b, eps: eps)
        h.apply(act)
        return conv2d(h, weight: conv3w, bias: conv3b)
    }
}
