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

    /// Upper bounds far above any released model, low enough that no tensor size computed from them overflows
    /// or asks for absurd memory (spec-sized values load; a typo like `hidden_size: 2048000` fails here).
    public enum Limits {
        public static let vocab = 1 << 22, hidden = 32768, intermediate = 1 << 17, layers = 256, heads = 512
        public static let latent = 8192, headDim = 1024, experts = 1024, sharedExperts = 64, positions = 1 << 24
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Options this port does not implement fail first, at load, with the key named.
        qLoraRank = try c.decodeIfPresent(Int.self, forKey: .qLoraRank)
        try c.require(qLoraRank == nil, .qLoraRank, "only null (plain q_proj) is supported")
        if c.contains(.ropeScaling) {
            try c.require(try c.decodeNil(forKey: .ropeScaling), .ropeScaling, "rope scaling (YaRN) is not supported; Kimi-VL uses null")
        }
        let params = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        if let t = params?.ropeType {
            try c.require(t == "default", .ropeParameters, "rope_type '\(t)' is not supported; only 'default'")
        }
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        try c.require(!attentionBias, .attentionBias, "MLA projections with bias are not supported")
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        try c.require(hiddenAct == "silu", .hiddenAct, "only 'silu' is supported")
        scoringFunc = try c.decodeIfPresent(ScoringFunction.self, forKey: .scoringFunc) ?? .sigmoid
        try c.require(scoringFunc == .sigmoid, .scoringFunc, "only 'sigmoid' (Kimi-VL / DeepSeek-V3) is supported")
        topkMethod = try c.decodeIfPresent(TopKMethod.self, forKey: .topkMethod) ?? .noauxTC
        try c.require(topkMethod == .noauxTC, .topkMethod, "only 'noaux_tc' is supported")

        // The sizes every tensor shape comes from are required: a misspelled key must not fall back to the
        // full-size defaults (and then to a model that does not match the checkpoint).
        typealias L = Limits
        vocabSize = try c.int(.vocabSize, in: 1...L.vocab)
        hiddenSize = try c.int(.hiddenSize, in: 1...L.hidden)
        intermediateSize = try c.int(.intermediateSize, in: 1...L.intermediate)
        numHiddenLayers = try c.int(.numHiddenLayers, in: 1...L.layers)
        numAttentionHeads = try c.int(.numAttentionHeads, in: 1...L.heads)
        // MLA and MoE sizes default to Kimi-VL's (DeepSeek-V3's) values, as transformers' config class does.
        kvLoraRank = try c.int(.kvLoraRank, in: 1...L.latent, default: 512)
        qkNopeHeadDim = try c.int(.qkNopeHeadDim, in: 0...L.headDim, default: 128)
        qkRopeHeadDim = try c.int(.qkRopeHeadDim, in: 0...L.headDim, default: 64)
        try c.require(qkRopeHeadDim % 2 == 0, .qkRopeHeadDim, "must be even (rotary pairs), got \(qkRopeHeadDim)")
        try c.require(qkNopeHeadDim + qkRopeHeadDim > 0, .qkNopeHeadDim, "qk_nope_head_dim + qk_rope_head_dim must be positive")
        vHeadDim = try c.int(.vHeadDim, in: 1...L.headDim, default: 128)
        nRoutedExperts = try c.int(.nRoutedExperts, in: 0...L.experts, default: 64)
        nSharedExperts = try c.int(.nSharedExperts, in: 0...L.sharedExperts, default: 2)
        moeIntermediateSize = try c.int(.moeIntermediateSize, in: 1...L.intermediate, default: 1408)
        numExpertsPerTok = try c.int(.numExpertsPerTok, in: 1...max(1, nRoutedExperts), default: min(6, max(1, nRoutedExperts)))
        firstKDenseReplace = try c.int(.firstKDenseReplace, in: 0...numHiddenLayers, default: 1)
        moeLayerFreq = try c.int(.moeLayerFreq, in: 1...numHiddenLayers, default: 1)
        nGroup = try c.int(.nGroup, in: 1...max(1, nRoutedExperts), default: 1)
        topkGroup = try c.int(.topkGroup, in: 1...nGroup, default: 1)
        try c.require(nRoutedExperts % nGroup == 0, .nGroup, "n_group \(nGroup) must divide n_routed_experts \(nRoutedExperts)")
        routedScalingFactor = try c.float(.routedScalingFactor, default: 2.446)
        normTopkProb = try c.decodeIfPresent(Bool.self, forKey: .normTopkProb) ?? true
        if let theta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) {
            ropeTheta = theta
            try c.require(theta.isFinite && theta > 0, .ropeTheta, "must be a finite number > 0, got \(theta)")
        } else {
            ropeTheta = params?.ropeTheta ?? 800000
            try c.require(ropeTheta.isFinite && ropeTheta > 0, .ropeParameters, "rope_theta must be a finite number > 0, got \(ropeTheta)")
        }
        rmsNormEps = try c.float(.rmsNormEps, default: 1e-5, positive: true)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        maxPositionEmbeddings = try c.int(.maxPositionEmbeddings, in: 1...L.positions, default: 131072)
        ropeInterleave = try c.decodeIfPresent(Bool.self, forKey: .ropeInterleave) ?? true
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
        // Sizes are required (a misspelled key must not fall back to the full-size tower); the position table
        // defaults to Kimi-VL's 64×64. The bounds keep every tensor built from them (the patch projection
        // [D, 3·P·P] and the position table [H0, W0, D] are widened to Float32 at load) reasonably sized.
        patchSize = try c.int(.patchSize, in: 1...32)
        hiddenSize = try c.int(.hiddenSize, in: 1...8192)
        numHiddenLayers = try c.int(.numHiddenLayers, in: 1...256)
        numAttentionHeads = try c.int(.numAttentionHeads, in: 1...256)
        intermediateSize = try c.int(.intermediateSize, in: 1...65536)
        initPosEmbHeight = try c.int(.initPosEmbHeight, in: 1...Self.ropeMaxGrid, default: 64)
        initPosEmbWidth = try c.int(.initPosEmbWidth, in: 1...Self.ropeMaxGrid, default: 64)
        try c.require(initPosEmbHeight * initPosEmbWidth * hiddenSize <= 1 << 26, .initPosEmbHeight,
                      "position table \(initPosEmbHeight)×\(initPosEmbWidth)×\(hiddenSize) is too large")
        mergeKernelSize = try c.ints(.mergeKernelSize, count: 2, in: 1...8, default: [2, 2])
        try c.require(hiddenSize % numAttentionHeads == 0 && (hiddenSize / numAttentionHeads) % 4 == 0, .numAttentionHeads,
                      "head dim \(hiddenSize)/\(numAttentionHeads) must be a multiple of 4 (2-D RoPE)")
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
        mediaPlaceholderTokenId = try c.int(.mediaPlaceholderTokenId, in: 0...Int(Int32.max), default: 163605)
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

    /// Most pixels a processed image may have (in_token_limit × patch²): 16 M, 20× Kimi-VL's 0.8 M.
    public static let maxPixels = 1 << 24

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PreprocessorConfig.kimiVL
        imageMean = try c.decodeIfPresent([Float].self, forKey: .imageMean) ?? d.imageMean
        try c.require(imageMean.count == 3 && imageMean.allSatisfy(\.isFinite), .imageMean, "needs 3 finite values, got \(imageMean)")
        imageStd = try c.decodeIfPresent([Float].self, forKey: .imageStd) ?? d.imageStd
        try c.require(imageStd.count == 3 && imageStd.allSatisfy { $0.isFinite && $0 > 0 }, .imageStd,
                      "needs 3 finite values > 0, got \(imageStd)")
        patchSize = try c.int(.patchSize, in: 1...32, default: d.patchSize)
        inTokenLimit = try c.int(.inTokenLimit, in: 1...(Self.maxPixels / (patchSize * patchSize)), default: d.inTokenLimit)
        mergeKernelSize = try c.ints(.mergeKernelSize, count: 2, in: 1...8, default: d.mergeKernelSize)
        padInput = try c.decodeIfPresent(Bool.self, forKey: .padInput) ?? d.padInput
    }
}
