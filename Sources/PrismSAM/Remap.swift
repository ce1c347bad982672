// Checkpoint names → transformers `SamModel` names (spec §5). A checkpoint in the original
// segment-anything layout (`image_encoder.blocks.N…`) is renamed by the rules of transformers'
// convert_sam_to_hf.py; an HF checkpoint passes through unchanged, except the prompt encoder's tied copy of
// the Fourier matrix, which is read as `shared_image_embedding.positional_embedding`.

public enum SamCheckpointLayout: Sendable, Equatable {
    case transformers, original

    /// The original layout is recognised by its encoder prefix; no HF name starts with `image_encoder.`.
    public static func detect(_ names: [String]) -> SamCheckpointLayout {
        names.contains { $0.hasPrefix("image_encoder.") } ? .original : .transformers
    }
}

public struct SamRemap: Sendable {
    public let layout: SamCheckpointLayout
    /// Layer count of the IoU head (config `iou_head_depth`), needed to find its last layer.
    public let iouHeadDepth: Int
    /// Layer count of each hypernetwork MLP (fixed at 3 in SAM's mask decoder).
    public static let hypernetworkDepth = 3

    public init(layout: SamCheckpointLayout, iouHeadDepth: Int) {
        self.layout = layout
        self.iouHeadDepth = iouHeadDepth
    }

    public static let tiedFourierAlias = "prompt_encoder.shared_embedding.positional_embedding"
    public static let fourierName = "shared_image_embedding.positional_embedding"

    /// The model-side name for a checkpoint name, or nil for tensors the model does not use.
    public func callAsFunction(_ name: String) -> String? {
        if name == Self.tiedFourierAlias { return Self.fourierName }
        guard layout == .original else { return name }
        return original(name)
    }

    private static let substitutions: [(String, String)] = [
        ("image_encoder.", "vision_encoder."),
        (".blocks.", ".layers."),
        (".norm", ".layer_norm"),                        // norm1…norm4, norm_final_attn
        ("patch_embed.proj.", "patch_embed.projection."),
        ("neck.0.", "neck.conv1."), ("neck.1.", "neck.layer_norm1."),
        ("neck.2.", "neck.conv2."), ("neck.3.", "neck.layer_norm2."),
        ("mask_downscaling.0.", "mask_embed.conv1."), ("mask_downscaling.1.", "mask_embed.layer_norm1."),
        ("mask_downscaling.3.", "mask_embed.conv2."), ("mask_downscaling.4.", "mask_embed.layer_norm2."),
        ("mask_downscaling.6.", "mask_embed.conv3."),
        ("point_embeddings.", "point_embed."),
        ("output_upscaling.0.", "upscale_conv1."), ("output_upscaling.1.", "upscale_layer_norm."),
        ("output_upscaling.3.", "upscale_conv2."),
    ]

    private func original(_ name: String) -> String? {
        if name == "pixel_mean" || name == "pixel_std" { return nil }   // non-persistent buffers in [SA]
        if name == "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix" { return Self.fourierName }
        var n = name
        for (from, to) in Self.substitutions { n = n.replacingOccurrences(of: from, with: to) }
        // MLP heads: layers.0 → proj_in, layers.(depth−1) → proj_out, layers.i → layers.(i−1) in between.
        if n.hasPrefix("mask_decoder.iou_prediction_head.layers.") {
            return mlpHead(n, prefix: "mask_decoder.iou_prediction_head.", depth: iouHeadDepth)
        }
        if n.hasPrefix("mask_decoder.output_hypernetworks_mlps.") {
            let rest = n.dropFirst("mask_decoder.output_hypernetworks_mlps.".count)
            guard let dot = rest.firstIndex(of: ".") else { return n }
            let prefix = "mask_decoder.output_hypernetworks_mlps.\(rest[..<dot])."
            return mlpHead(n, prefix: prefix, depth: Self.hypernetworkDepth)
        }
        return n
    }

    private func mlpHead(_ n: String, prefix: String, depth: Int) -> String {
        let rest = n.dropFirst(prefix.count)                 // "layers.1.weight"
        let parts = rest.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "layers", let i = Int(parts[1]) else { return n }
        let layer = i == 0 ? "proj_in" : i == depth - 1 ? "proj_out" : "layers.\(i - 1)"
        return "\(prefix)\(layer).\(parts[2])"
    }
}
