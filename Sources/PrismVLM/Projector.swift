// Kimi-VL's multimodal projector (specs/kimi_vl.md §3.7): LayerNorm on each of the kh·kw merged sub-vectors,
// concatenation, then Linear → exact (erf) GELU → Linear into the text model's hidden size.
import PrismCore
import PrismIO

public final class Projector {
    let normWeight, normBias: Tensor
    let linear1, linear2: TensorView
    let bias1, bias2: TensorView

    /// `weights` scoped at `multi_modal_projector`.
    public init(vision: VisionConfig, textHidden: Int, weights w: WeightScope) {
        let d = vision.hiddenSize, merged = d * vision.mergeKernelSize[0] * vision.mergeKernelSize[1]
        normWeight = w.float("pre_norm.weight", [d]); normBias = w.float("pre_norm.bias", [d])
        linear1 = w.tensor("linear_1.weight", [merged, merged]); bias1 = w.tensor("linear_1.bias", [merged])
        linear2 = w.tensor("linear_2.weight", [textHidden, merged]); bias2 = w.tensor("linear_2.bias", [textHidden])
    }

    /// merged [N, kh·kw, D] → image embeddings [N, textHidden].
    public func callAsFunction(_ merged: Tensor) -> Tensor {
        precondition(merged.rank == 3, "Projector: expects [N, kh·kw, D], got \(merged.shape)")
        let n = merged.shape[0]
        // LayerNorm per sub-vector, then [N, kh·kw·D]
        let normed = layerNorm(merged, weight: normWeight, bias: normBias, eps: VisionConfig.layerNormEps)
            .reshaped([n, merged.shape[1] * merged.shape[2]])
        var h = linear(normed, linear1, bias: bias1)
        h.apply(.gelu)
        return linear(h, linear2, bias: bias2)
    }
}
