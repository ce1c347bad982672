// Kimi-VL configuration, mirroring config.json (top level, `vision_config`, `text_config`) and
// preprocessor_config.json (specs/kimi_vl.md §1). Defaults are the Kimi-VL-A3B values and live in the
// `init(from:)` of each struct; string options decode into enums so a typo fails at load.
import Foundation
import PrismIO

// MARK: - Text model (DeepSeek-V3 schema)

public enum TopKMethod: String, Codable, Sendable {
    case noauxTC = "noaux_tc", greedy, groupLimitedGreedy = "group_limited_greedy"
}

public enum ScoringFunction: String, Codable, Sendable { case sigmoid, softmax }

public struct TextConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var moeIntermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var qLoraRank: Int?
    public var kvLoraRank: Int
    public var qkNopeHeadDim: Int
    public var qkRopeHeadDim: Int
    public var vHeadDim: Int
    public var nRoutedExperts: Int
    public var nSharedExperts: Int
    public var numExpertsPerTok: Int
    public var firstKDenseReplace: Int
    public var moeLayerFreq: Int
    public var nGroup: Int
    public var topkGroup: Int
    public var topkMethod: TopKMethod
    public var scoringFunc: ScoringFunction
    public var routedScalingFactor: Float
    public var normTopkProb: Bool
    public var hiddenAct: String
    public var ropeTheta: Float
    public var rmsNormEps: Float
    public var attentionBias: Bool
    public var tieWordEmbeddings: Bool
    public var maxPositionEmbeddings: Int
    /// `rope_interleave` (transformers ≥ 4.5x); Kimi's own DeepSeek code always interleaves.
    public var ropeInterleave: Bool

    /// Query/key head width: nope + rope dims (192 for Kimi-VL).
    public var qkHeadDim: Int { qkNopeHeadDim + qkRopeHeadDim }

    /// Whether layer `i` uses the MoE FFN (DeepSeek's rule: after the first k dense layers, every freq-th).
    public func isMoE(layer i: Int) -> Bool {
        nRoutedExperts > 0 && i >= firstKDenseReplace && i % max(1, moeLayerFreq) == 0
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case moeIntermediateSize = "moe_intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", qLoraRank = "q_lora_rank", kvLoraRank = "kv_lora_rank"
        case qkNopeHeadDim = "qk_nope_head_dim", qkRopeHeadDim = "qk_rope_head_dim", vHeadDim = "v_head_dim"
        case nRoutedExperts = "n_routed_experts", nSharedExperts = "n_shared_experts"
        case numExpertsPerTok = "num_experts_per_tok", firstKDenseReplace = "first_k_dense_replace"
        case moeLayerFreq = "moe_layer_freq", nGroup = "n_group", topkGroup = "topk_group"
        case topkMethod = "topk_method", scoringFunc = "scoring_func"
        case routedScalingFactor = "routed_scaling_factor", normTopkProb = "norm_topk_prob"
        case hiddenAct = "hidden_act", ropeTheta = "rope_theta", rmsNormEps = "rms_norm_eps"
        case attentionBias = "attention_bias", tieWordEmbeddings = "tie_word_embeddings"
        case maxPositionEmbeddings = "max_position_embeddings", ropeInterleave = "rope_interleave"
        case ropeScaling = "rope_scaling", ropeParameters = "rope_parameters"
    }

    /// transformers 5 writes `rope_parameters: {rope_theta, rope_type}` instead of `rope_theta`/`rope_scaling`.
    struct RopeParameters: Codable, Equatable {
        var ropeTheta: Float?
        var ropeType: String?
        enum CodingKeys: String, CodingKey { case ropeTheta = "rope_theta", ropeType = "rope_type" }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 163840
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 2048
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 11264
        moeIntermediateSize = try c.decodeIfPresent(Int.self, forKey: .moeIntermediateSize) ?? 1408
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 27
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 16
        qLoraRank = try c.decodeIfPresent(Int.self, forKey: .qLoraRank)
        kvLoraRank = try c.decodeIfPresent(Int.self, forKey: .kvLoraRank) ?? 512
        qkNopeHeadDim = try c.decodeIfPresent(Int.self, forKey: .qkNopeHeadDim) ?? 128
        qkRopeHeadDim = try c.decodeIfPresent(Int.self, forKey: .qkRopeHeadDim) ?? 64
        vHeadDim = try c.decodeIfPresent(Int.self, forKey: .vHeadDim) ?? 128
        nRoutedExperts = try c.decodeIfPresent(Int.self, forKey: .nRoutedExperts) ?? 64
        nSharedExperts = try c.decodeIfPresent(Int.self, forKey: .nSharedExperts) ?? 2
        numExpertsPerTok = try c.decodeIfPresent(Int.self, forKey: .numExpertsPerTok) ?? 6
        firstKDenseReplace = try c.decodeIfPresent(Int.self, forKey: .firstKDenseReplace) ?? 1
        moeLayerFreq = try c.decodeIfPresent(Int.self, forKey: .moeLayerFreq) ?? 1
        nGroup = try c.decodeIfPresent(Int.self, forKey: .nGroup) ?? 1
        topkGroup = try c.decodeIfPresent(Int.self, forKey: .topkGroup) ?? 1
        topkMethod = try c.decodeIfPresent(TopKMethod.self, forKey: .topkMethod) ?? .noauxTC
        scoringFunc = try c.decodeIfPresent(ScoringFunction.self, forKey: .scoringFunc) ?? .sigmoid
        routedScalingFactor = try c.decodeIfPresent(Float.self, forKey: .routedScalingFactor) ?? 2.446
        normTopkProb = try c.decodeIfPresent(Bool.self, forKey: .normTopkProb) ?? true
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        let params = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? params?.ropeTheta ?? 800000
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-5
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 131072
        ropeInterleave = try c.decodeIfPresent(Bool.self, forKey: .ropeInterleave) ?? true

        // Options this port does not implement fail here, at load, with the key named.
        func unsupported(_ key: CodingKeys, _ reason: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: c, debugDescription: reason)
        }
        if qLoraRank != nil { throw unsupported(.qLoraRank, "only null (plain q_proj) is supported") }
        if c.contains(.ropeScaling), try !c.decodeNil(forKey: .ropeScaling) {
            throw unsupported(.ropeScaling, "rope scaling (YaRN) is not supported; Kimi-VL uses null")
        }
        if let t = params?.ropeType, t != "default" {
            throw unsupported(.ropeParameters, "rope_type '\(t)' is not supported; only 'default'")
        }
        if attentionBias { throw unsupported(.attentionBias, "MLA projections with bias are not supported") }
        if hiddenAct != "silu" { throw unsupported(.hiddenAct, "only 'silu' is supported") }
        if scoringFunc != .sigmoid { throw unsupported(.scoringFunc, "only 'sigmoid' (Kimi-VL / DeepSeek-V3) is supported") }
        if topkMethod != .noauxTC { throw unsupported(.topkMethod, "only 'noaux_tc' is supported") }
        if nGroup < 1 || nRoutedExperts % nGroup != 0 || topkGroup > nGroup {
            throw unsupported(.nGroup, "n_group \(nGroup) must divide n_routed_experts \(nRoutedExperts) and be ≥ topk_group \(topkGroup)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize); try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(moeIntermediateSize, forKey: .moeIntermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers); try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(qLoraRank, forKey: .qLoraRank); try c.encode(kvLoraRank, forKey: .kvLoraRank)
        try c.encode(qkNopeHeadDim, forKey: .qkNopeHeadDim); try c.encode(qkRopeHeadDim, forKey: .qkRopeHeadDim)
        try c.encode(vHeadDim, forKey: .vHeadDim); try c.encode(nRoutedExperts, forKey: .nRoutedExperts)
        try c.encode(nSharedExperts, forKey: .nSharedExperts); try c.encode(numExpertsPerTok, forKey: .numExpertsPerTok)
        try c.encode(firstKDenseReplace, forKey: .firstKDenseReplace); try c.encode(moeLayerFreq, forKey: .moeLayerFreq)
        try c.encode(nGroup, forKey: .nGroup); try c.encode(topkGroup, forKey: .topkGroup)
        try c.encode(topkMethod, forKey: .topkMethod); try c.encode(scoringFunc, forKey: .scoringFunc)
        try c.encode(routedScalingFactor, forKey: .routedScalingFactor); try c.encode(normTopkProb, forKey: .normTopkProb)
        try c.encode(hiddenAct, forKey: .hiddenAct); try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(rmsNormEps, forKey: .rmsNormEps); try c.encode(attentionBias, forKey: .attentionBias)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings); try c.encode(ropeInterleave, forKey: .ropeInterleave)
    }
}

// MARK: - Vision tower (MoonViT)

public struct VisionConfig: Codable, Sendable, Equatable {
    public var patchSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var initPosEmbHeight: Int
    public var initPosEmbWidth: Int
    public var mergeKernelSize: [Int]

    public var headDim: Int { hiddenSize / numAttentionHeads }
    /// Hard-coded in the reference (spec §1.2): LayerNorm eps, 2-D RoPE table size and theta.
    public static let layerNormEps: Float = 1e-5
    public static let ropeMaxGrid = 512
    public static let ropeTheta: Float = 10000

    enum CodingKeys: String, CodingKey {
        case patchSize = "patch_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case initPosEmbHeight = "init_pos_emb_height", initPosEmbWidth = "init_pos_emb_width"
        case mergeKernelSize = "merge_kernel_size"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 14
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 1152
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 27
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 16
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 4304
        initPosEmbHeight = try c.decodeIfPresent(Int.self, forKey: .initPosEmbHeight) ?? 64
        initPosEmbWidth = try c.decodeIfPresent(Int.self, forKey: .initPosEmbWidth) ?? 64
        mergeKernelSize = try c.decodeIfPresent([Int].self, forKey: .mergeKernelSize) ?? [2, 2]
        if mergeKernelSize.count != 2 || mergeKernelSize.contains(where: { $0 < 1 }) {
            throw DecodingError.dataCorruptedError(forKey: .mergeKernelSize, in: c, debugDescription: "must be two positive sizes")
        }
        if hiddenSize % numAttentionHeads != 0 || (hiddenSize / numAttentionHeads) % 4 != 0 {
            throw DecodingError.dataCorruptedError(forKey: .numAttentionHeads, in: c,
                debugDescription: "head dim \(hiddenSize)/\(numAttentionHeads) must be a multiple of 4 (2-D RoPE)")
        }
    }
}

// MARK: - Top level

public struct KimiVLConfig: Codable, Sendable {
    public var visionConfig: VisionConfig
    public var textConfig: TextConfig
    public var mediaPlaceholderTokenId: Int

    enum CodingKeys: String, CodingKey {
        case visionConfig = "vision_config", textConfig = "text_config"
        case mediaPlaceholderTokenId = "media_placeholder_token_id"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        visionConfig = try c.decode(VisionConfig.self, forKey: .visionConfig)
        textConfig = try c.decode(TextConfig.self, forKey: .textConfig)
        mediaPlaceholderTokenId = try c.decodeIfPresent(Int.self, forKey: .mediaPlaceholderTokenId) ?? 163605
    }
}

// MARK: - preprocessor_config.json

public struct PreprocessorConfig: Codable, Sendable, Equatable {
    public var imageMean: [Float]
    public var imageStd: [Float]
    public var inTokenLimit: Int
    public var mergeKernelSize: [Int]
    public var patchSize: Int
    public var padInput: Bool

    enum CodingKeys: String, CodingKey {
        case imageMean = "image_mean", imageStd = "image_std", inTokenLimit = "in_token_limit"
        case mergeKernelSize = "merge_kernel_size", patchSize = "patch_size", padInput = "pad_input"
    }

    /// The values shipped in Kimi-VL-A3B's preprocessor_config.json (spec §1.3).
    public static let kimiVL = PreprocessorConfig(imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5],
                                                  inTokenLimit: 4096, mergeKernelSize: [2, 2], patchSize: 14, padInput: true)

    public init(imageMean: [Float], imageStd: [Float], inTokenLimit: Int, mergeKernelSize: [Int], patchSize: Int, padInput: Bool) {
        self.imageMean = imageMean; self.imageStd = imageStd; self.inTokenLimit = inTokenLimit
        self.mergeKernelSize = mergeKernelSize; self.patchSize = patchSize; self.padInput = padInput
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PreprocessorConfig.kimiVL
        imageMean = try c.decodeIfPresent([Float].self, forKey: .imageMean) ?? d.imageMean
        imageStd = try c.decodeIfPresent([Float].self, forKey: .imageStd) ?? d.imageStd
        inTokenLimit = try c.decodeIfPresent(Int.self, forKey: .inTokenLimit) ?? d.inTokenLimit
        mergeKernelSize = try c.decodeIfPresent([Int].self, forKey: .mergeKernelSize) ?? d.mergeKernelSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        padInput = try c.decodeIfPresent(Bool.self, forKey: .padInput) ?? d.padInput
        if imageMean.count != 3 || imageStd.count != 3 {
            throw DecodingError.dataCorruptedError(forKey: .imageMean, in: c, debugDescription: "image_mean and image_std need 3 values")
        }
        if mergeKernelSize.count != 2 {
            throw DecodingError.dataCorruptedError(forKey: .mergeKernelSize, in: c, debugDescription: "must be two sizes")
        }
    }
}
