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
        // Bounds far above SAM ViT-H, low enough that no tensor built from them (the position table
        // [g, g, C] and relative-position tables are widened to Float32 at load) asks for absurd memory.
        hiddenSize = try c.int(.hiddenSize, in: 1...8192, default: 768)
        outputChannels = try c.int(.outputChannels, in: 1...4096, default: 256)
        numHiddenLayers = try c.int(.numHiddenLayers, in: 1...256, default: 12)
        numAttentionHeads = try c.int(.numAttentionHeads, in: 1...256, default: 12)
        numChannels = try c.int(.numChannels, in: 1...4, default: 3)
        imageSize = try c.int(.imageSize, in: 1...4096, default: 1024)
        patchSize = try c.int(.patchSize, in: 1...256, default: 16)
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? .gelu
        layerNormEps = try c.float(.layerNormEps, default: 1e-6, positive: true)
        qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? true
        let ratio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? 4
        try c.require(ratio.isFinite && ratio > 0 && ratio <= 64, .mlpRatio, "must be a number in (0, 64], got \(ratio)")
        mlpDim = try c.int(.mlpDim, in: 1...65536, default: max(1, Int(Double(hiddenSize) * ratio)))
        useAbsPos = try c.decodeIfPresent(Bool.self, forKey: .useAbsPos) ?? true
        useRelPos = try c.decodeIfPresent(Bool.self, forKey: .useRelPos) ?? true
        windowSize = try c.int(.windowSize, in: 0...256, default: 14)
        globalAttnIndexes = try c.decodeIfPresent([Int].self, forKey: .globalAttnIndexes) ?? [2, 5, 8, 11]
        numPosFeats = try c.int(.numPosFeats, in: 1...4096, default: 128)
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
        hiddenSize = try c.int(.hiddenSize, in: 1...4096, default: 256)
        imageSize = try c.int(.imageSize, in: 1...4096, default: 1024)
        patchSize = try c.int(.patchSize, in: 1...256, default: 16)
        maskInputChannels = try c.int(.maskInputChannels, in: 4...1024, default: 16)
        // Labels 0 and 1 (negative, positive click) and 2, 3 (box corners): the prompt encoder indexes these four.
        numPointEmbeddings = try c.int(.numPointEmbeddings, in: 4...4, default: 4)
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? .gelu
        layerNormEps = try c.float(.layerNormEps, default: 1e-6, positive: true)
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
        hiddenSize = try c.int(.hiddenSize, in: 1...4096, default: 256)
        hiddenAct = try c.decodeIfPresent(Activation.self, forKey: .hiddenAct) ?? .relu
        mlpDim = try c.int(.mlpDim, in: 1...65536, default: 2048)
        numHiddenLayers = try c.int(.numHiddenLayers, in: 1...64, default: 2)
        numAttentionHeads = try c.int(.numAttentionHeads, in: 1...256, default: 8)
        attentionDownsampleRate = try c.int(.attentionDownsampleRate, in: 1...64, default: 2)
        numMultimaskOutputs = try c.int(.numMultimaskOutputs, in: 1...16, default: 3)
        iouHeadDepth = try c.int(.iouHeadDepth, in: 2...16, default: 3)
        iouHeadHiddenDim = try c.int(.iouHeadHiddenDim, in: 1...65536, default: 256)
        layerNormEps = try c.float(.layerNormEps, default: 1e-6, positive: true)
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
        try check(v.gridSize * v.gridSize * v.hiddenSize <= 1 << 26, "vision_config.image_size",
                  "position table \(v.gridSize)×\(v.gridSize)×\(v.hiddenSize) is too large")
        try check(v.windowSize <= v.gridSize, "vision_config.window_size",
                  "\(v.windowSize) is larger than the \(v.gridSize)×\(v.gridSize) token grid")
        try check(v.globalAttnIndexes.allSatisfy { (0..<v.numHiddenLayers).contains($0) }, "vision_config.global_attn_indexes",
                  "\(v.globalAttnIndexes) outside 0..<\(v.numHiddenLayers)")
        try check(v.outputChannels == d.hiddenSize && p.hiddenSize == d.hiddenSize, "mask_decoder_config.hidden_size",
                  "\(d.hiddenSize) must equal vision output_channels \(v.outputChannels) and prompt hidden_size \(p.hiddenSize)")
        try check(2 * v.numPosFeats == d.hiddenSize, "vision_config.num_pos_feats",
                  "2 × \(v.numPosFeats) must equal the decoder hidden_size \(d.hiddenSize)")
        try check(p.imageEmbeddingSize == v.gridSize && p.imageSize == v.imageSize, "prompt_encoder_config.image_size",
                  "\(p.imageSize)/\(p.patchSize) does not match the vision grid \(v.gridSize)")
        try check(p.maskInputChannels % 4 == 0, "prompt_encoder_config.mask_input_channels", "must be a multiple of 4")
        try check(d.hiddenSize % d.attentionDownsampleRate == 0, "mask_decoder_config.attention_downsample_rate",
                  "\(d.attentionDownsampleRate) does not divide hidden_size \(d.hiddenSize)")
        let rate = max(1, d.attentionDownsampleRate)
        try check(d.numAttentionHeads > 0 && (d.hiddenSize / rate) % d.numAttentionHeads == 0,
                  "mask_decoder_config.num_attention_heads", "\(d.numAttentionHeads) does not divide \(d.hiddenSize / rate)")
        try check(d.hiddenSize % 8 == 0, "mask_decoder_config.hidden_size", "must be a multiple of 8")
        try check(d.iouHeadDepth >= 2, "mask_decoder_config.iou_head_depth", "must be at least 2")
    }
}
