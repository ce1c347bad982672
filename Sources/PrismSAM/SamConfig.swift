import Foundation
import PrismCore
import PrismIO

// Mirrors transformers' SamConfig config.json (spec §1–§3): one struct per part, snake_case keys,
// defaults (ViT-B) visible in each init(from:).

public struct SamVisionConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var outputChannels: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: Activation
    public var layerNormEps: Float
    public var qkvBias: Bool
    public var mlpDim: Int
    public var useAbsPos: Bool
    public var useRelPos: Bool
    public var windowSize: Int
    public var globalAttnIndexes: [Int]
    public var numPosFeats: Int

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", outputChannels = "output_channels", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numChannels = "num_channels", imageSize = "image_size"
        case patchSize = "patch_size", hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps", qkvBias = "qkv_bias"
        case mlpDim = "mlp_dim", mlpRatio = "mlp_ratio", useAbsPos = "use_abs_pos", useRelPos = "use_rel_pos"
        case windowSize = "window_size", globalAttnIndexes = "global_attn_indexes", numPosFeats = "num_pos_feats"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 768
        outputChannels = try c.decodeIfPresent(Int.self, forKey: .outputChannels) ?? 256
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 12
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? 3
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? 1024
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 16
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? .gelu
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-6
        qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? true
        let ratio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? 4
        mlpDim = try c.decodeIfPresent(Int.self, forKey: .mlpDim) ?? Int(Double(hiddenSize) * ratio)
        useAbsPos = try c.decodeIfPresent(Bool.self, forKey: .useAbsPos) ?? true
        useRelPos = try c.decodeIfPresent(Bool.self, forKey: .useRelPos) ?? true
        windowSize = try c.decodeIfPresent(Int.self, forKey: .windowSize) ?? 14
        globalAttnIndexes = try c.decodeIfPresent([Int].self, forKey: .globalAttnIndexes) ?? [2, 5, 8, 11]
        numPosFeats = try c.decodeIfPresent(Int.self, forKey: .numPosFeats) ?? 128
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hiddenSize, forKey: .hiddenSize); try c.encode(outputChannels, forKey: .outputChannels)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers); try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numChannels, forKey: .numChannels); try c.encode(imageSize, forKey: .imageSize)
        try c.encode(patchSize, forKey: .patchSize); try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(layerNormEps, forKey: .layerNormEps); try c.encode(qkvBias, forKey: .qkvBias)
        try c.encode(mlpDim, forKey: .mlpDim); try c.encode(useAbsPos, forKey: .useAbsPos)
        try c.encode(useRelPos, forKey: .useRelPos); try c.encode(windowSize, forKey: .windowSize)
        try c.encode(globalAttnIndexes, forKey: .globalAttnIndexes); try c.encode(numPosFeats, forKey: .numPosFeats)
    }

    /// Token grid side (64 for 1024 / 16).
    public var gridSize: Int { imageSize / patchSize }
    public var headDim: Int { hiddenSize / numAttentionHeads }
    /// Window side of layer `i`: 0 for global attention layers.
    public func windowSize(layer i: Int) -> Int { globalAttnIndexes.contains(i) ? 0 : windowSize }
}

public struct SamPromptEncoderConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var imageSize: Int
    public var patchSize: Int
    public var maskInputChannels: Int
    public var numPointEmbeddings: Int
    public var hiddenAct: Activation
    public var layerNormEps: Float

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", imageSize = "image_size", patchSize = "patch_size"
        case maskInputChannels = "mask_input_channels", numPointEmbeddings = "num_point_embeddings"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 256
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? 1024
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 16
        maskInputChannels = try c.decodeIfPresent(Int.self, forKey: .maskInputChannels) ?? 16
        numPointEmbeddings = try c.decodeIfPresent(Int.self, forKey: .numPointEmbeddings) ?? 4
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? .gelu
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-6
    }

    /// Side of the image embedding grid (64).
    public var imageEmbeddingSize: Int { imageSize / patchSize }
    /// Side of the low-res mask logits and of a mask input (4 × grid = 256).
    public var maskInputSize: Int { 4 * imageEmbeddingSize }
}

public struct SamMaskDecoderConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var hiddenAct: Activation
    public var mlpDim: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var attentionDownsampleRate: Int
    public var numMultimaskOutputs: Int
    public var iouHeadDepth: Int
    public var iouHeadHiddenDim: Int
    public var layerNormEps: Float

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", hiddenAct = "hidden_act", mlpDim = "mlp_dim"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case attentionDownsampleRate = "attention_downsample_rate", numMultimaskOutputs = "num_multimask_outputs"
        case iouHeadDepth = "iou_head_depth", iouHeadHiddenDim = "iou_head_hidden_dim", layerNormEps = "layer_norm_eps"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 256
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? .relu
        mlpDim = try c.decodeIfPresent(Int.self, forKey: .mlpDim) ?? 2048
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 2
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 8
        attentionDownsampleRate = try c.decodeIfPresent(Int.self, forKey: .attentionDownsampleRate) ?? 2
        numMultimaskOutputs = try c.decodeIfPresent(Int.self, forKey: .numMultimaskOutputs) ?? 3
        iouHeadDepth = try c.decodeIfPresent(Int.self, forKey: .iouHeadDepth) ?? 3
        iouHeadHiddenDim = try c.decodeIfPresent(Int.self, forKey: .iouHeadHiddenDim) ?? 256
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-6
    }

    /// iou token + 1 single-mask token + multimask tokens.
    public var numMaskTokens: Int { numMultimaskOutputs + 1 }
}

public struct SamConfig: Codable, Sendable, Equatable {
    public var visionConfig: SamVisionConfig
    public var promptEncoderConfig: SamPromptEncoderConfig
    public var maskDecoderConfig: SamMaskDecoderConfig

    enum CodingKeys: String, CodingKey {
        case visionConfig = "vision_config", promptEncoderConfig = "prompt_encoder_config"
        case maskDecoderConfig = "mask_decoder_config"
    }

    /// Reads `config.json` from a model directory and checks that the three parts fit together.
    public static func load(directory: URL) throws -> SamConfig {
        let url = directory.appendingPathComponent("config.json")
        let config = try JSONConfig.load(SamConfig.self, from: url)
        try config.validate(path: url.path)
        return config
    }

    public func validate(path: String) throws {
        let v = visionConfig, p = promptEncoderConfig, d = maskDecoderConfig
        func check(_ ok: Bool, _ key: String, _ reason: String) throws {
            if !ok { throw ConfigError.invalidValue(path: path, key: key, reason: reason) }
        }
        try check(v.patchSize > 0 && v.imageSize % v.patchSize == 0, "vision_config.image_size",
                  "\(v.imageSize) is not a multiple of patch_size \(v.patchSize)")
        try check(v.numAttentionHeads > 0 && v.hiddenSize % v.numAttentionHeads == 0, "vision_config.num_attention_heads",
                  "\(v.numAttentionHeads) does not divide hidden_size \(v.hiddenSize)")
        try check(v.windowSize >= 0, "vision_config.window_size", "must not be negative")
        try check(v.globalAttnIndexes.allSatisfy { (0..<v.numHiddenLayers).contains($0) }, "vision_config.global_attn_indexes",
                  "\(v.globalAttnIndexes) outside 0..<\(v.numHiddenLayers)")
        try check(v.outputChannels == d.hiddenSize && p.hiddenSize == d.hiddenSize, "mask_decoder_config.hidden_size",
                  "\(d.hiddenSize) must equal vision output_channels \(v.outputChannels) and prompt hidden_size \(p.hiddenSize)")
        try check(2 * v.numPosFeats == d.hiddenSize, "vision_config.num_pos_feats",
                  "2 × \(v.numPosFeats) must equal the decoder hidden_size \(d.hiddenSize)")
        try check(p.imageEmbeddingSize == v.gridSize && p.imageSize == v.imageSize, "prompt_encoder_config.image_size",
                  "\(p.imageSize)/\(p.patchSize) does not match the vision grid \(v.gridSize)")
        try check(p.maskInputChannels % 4 == 0, "prompt_encoder_config.mask_input_channels", "must be a multiple of 4")
        let rate = max(1, d.attentionDownsampleRate)
        try check(d.numAttentionHeads > 0 && (d.hiddenSize / rate) % d.numAttentionHeads == 0,
                  "mask_decoder_config.num_attention_heads", "\(d.numAttentionHeads) does not divide \(d.hiddenSize / rate)")
        try check(d.hiddenSize % 8 == 0, "mask_decoder_config.hidden_size", "must be a multiple of 8")
        try check(d.iouHeadDepth >= 2, "mask_decoder_config.iou_head_depth", "must be at least 2")
    }
}
