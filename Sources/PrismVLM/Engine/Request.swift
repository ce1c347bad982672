// What a front end (chat, ask, batch, serve) hands the engine and what it gets back, in token ids.
import PrismCore

public struct GenerationRequest: Sendable {
    public var prompt: Prompt
    public var sampling: SamplingParameters
    /// Most tokens to generate (the context length may end the answer earlier, with `.length`).
    public var maxTokens: Int
    /// Tokens that end the answer; the one that does is not part of it.
    public var stopTokens: Set<Int>

    public init(prompt: Prompt, sampling: SamplingParameters = .greedy, maxTokens: Int, stopTokens: Set<Int> = []) {
        self.prompt = prompt; self.sampling = sampling; self.maxTokens = maxTokens; self.stopTokens = stopTokens
    }
}

public enum FinishReason: Equatable, Sendable {
    /// A stop token was sampled (not included in the output).
    case stop(token: Int)
    /// `maxTokens` were generated, or the context is full.
    case length
    /// The caller cancelled (or its token callback returned false) — the cache was freed at that step.
    case cancelled
    /// The step that ran this sequence failed; the message says why.
    case failed(String)
}

public struct GenerationUsage: Equatable, Sendable {
    /// Every prompt token, cached or not.
    public var promptTokens = 0
    /// Prompt tokens whose keys and values came from the prefix cache.
    public var cachedTokens = 0
    /// Image tokens in the part of the prompt that was prefilled (their embeddings may still come from the cache).
    public var imageTokens = 0
    /// Images run through the vision tower for this request (misses of the embedding cache).
    public var imagesEncoded = 0
    public var completionTokens = 0
    /// Submission → admission into the running batch.
    public var queueSeconds = 0.0
    /// Admission → first token.
    public var prefillSeconds = 0.0
    /// First token → finish.
    public var decodeSeconds = 0.0
    /// Submission → first token.
    public var timeToFirstToken = 0.0
    public init() {}

    /// Prompt tokens that were actually run through the decoder.
    public var prefilledTokens: Int { promptTokens - cachedTokens }
}

public struct GenerationResult: Sendable {
    public var tokens: [Int]
    public var finish: FinishReason
    public var usage: GenerationUsage
}

/// Delivered on the engine's thread, in order: zero or more `.token`, then exactly one `.finished`.
public enum GenerationEvent: Sendable {
    case token(Int)
    case finished(GenerationResult)
}

public enum EngineError: Error, CustomStringConvertible, Equatable {
    case promptTooLong(tokens: Int, limit: Int)
    case invalidMaxTokens(Int)
    case shuttingDown

    public var description: String {
        switch self {
        case let .promptTooLong(t, l): "the prompt has \(t) tokens but the model's context holds \(l) (one more is needed to answer)"
        case let .invalidMaxTokens(n): "max tokens must be at least 1 (got \(n))"
        case .shuttingDown: "the engine is shutting down and takes no new requests"
        }
    }
}

public struct EngineOptions: Sendable {
    /// Sequences in the running batch at once (prefilling or decoding); the rest wait in the queue.
    public var maxBatch: Int
    /// Prompt tokens prefilled per step over all admitted sequences: a long prompt delays the running streams'
    /// next token by at most one chunk.
    public var prefillChunk: Int
    /// Image patches run through the vision tower per step (at least one request's images always run).
    public var visionPatchesPerStep: Int
    /// Bytes of finished sequences' KV kept for prefix reuse.
    public var prefixCacheBytes: Int
    /// Bytes of image embeddings kept by image digest.
    public var visionCacheBytes: Int

    public init(maxBatch: Int = 16, prefillChunk: Int = 512, visionPatchesPerStep: Int = 4096,
                prefixCacheBytes: Int = 512 << 20, visionCacheBytes: Int = 256 << 20) {
        self.maxBatch = maxBatch; self.prefillChunk = prefillChunk; self.visionPatchesPerStep = visionPatchesPerStep
        self.prefixCacheBytes = prefixCacheBytes; self.visionCacheBytes = visionCacheBytes
    }
}

/// Counters for metrics and tests, read under the engine's lock.
public struct EngineSnapshot: Sendable, Equatable {
    /// Submitted, not yet in the running batch.
    public var waiting = 0
    /// In the running batch (prefilling or decoding).
    public var running = 0
    public var steps = 0
    /// Sequences and rows in the last packed forward.
    public var lastBatchSequences = 0
    public var lastBatchTokens = 0
    public var generatedTokens = 0
    public var prefilledTokens = 0
    public var cachedPromptTokens = 0
    public var imagesEncoded = 0
    /// Runs of the vision tower (each over every image a step encodes).
    public var visionPasses = 0
    /// KV caches alive (running sequences plus prefix-cache entries) and the bytes they hold.
    public var liveCaches = 0
    public var prefixCacheBytes = 0
    public var visionCacheBytes = 0
    public init() {}
}
