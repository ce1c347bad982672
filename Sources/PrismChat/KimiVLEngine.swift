import Foundation
import PrismCore
import PrismIO
import PrismTokenizer
import PrismVLM

public enum ChatEngineError: Error, CustomStringConvertible, Equatable {
    case contextTooLong(tokens: Int, limit: Int)
    case noTokenizer(directory: String)
    case tokenizerMismatch(file: String, reason: String)

    public var description: String {
        switch self {
        case let .contextTooLong(t, l):
            "the conversation needs \(t) tokens but the model's context holds \(l): use smaller or fewer images, or /clear"
        case let .noTokenizer(d): "\(d): no tiktoken.model / tokenizer_config.json beside the weights"
        case let .tokenizerMismatch(f, r): "\(f): \(r)"
        }
    }
}

/// A Kimi-VL model, its tokenizer and chat template behind the REPL's `ChatEngine`, over the one
/// `GenerationEngine`.
///
/// Each reply tokenizes the whole conversation and submits it; the engine's prefix cache holds the previous
/// turns' KV (keyed by tokens and image digests), so a follow-up question costs its own tokens, not the
/// history's, and an image is encoded once while it stays cached.
public final class KimiVLEngine: ChatEngine {
    public let engine: GenerationEngine
    public var model: KimiVL { engine.model }
    public let tokenizer: TikTokenizer
    public let template: ChatTemplate
    public let directory: URL
    public let stopIDs: Set<Int>
    private var processed: [String: ProcessedImage] = [:]

    public convenience init(directory: URL, template: ChatTemplate, precision: Precision = .f32,
                            options: EngineOptions = EngineOptions()) throws {
        try self.init(files: .checkpoint(directory), template: template, precision: precision, options: options)
    }

    /// A checkpoint directory or a GGUF pair (the tokenizer then comes from the GGUF metadata).
    public init(files: ModelFiles, template: ChatTemplate, precision: Precision = .f32,
                options: EngineOptions = EngineOptions()) throws {
        let fm = FileManager.default
        if case let .checkpoint(directory) = files, !fm.fileExists(atPath: directory.appendingPathComponent("tiktoken.model").path) {
            if !fm.fileExists(atPath: directory.appendingPathComponent("config.json").path) {
                throw ConfigError.missingFile(path: directory.appendingPathComponent("config.json").path)
            }
            throw ChatEngineError.noTokenizer(directory: directory.path)
        }
        directory = files.url
        engine = GenerationEngine(model: try files.loadModel(precision: precision), options: options)
        tokenizer = try files.loadTokenizer()
        self.template = template
        stopIDs = Set(template.stopTokenIDs(tokenizer))
        // Every id the tokenizer produces must index the embedding table, and the template's image pad must be the
        // model's placeholder id; otherwise the first answer would fail (or, worse, embed the wrong rows).
        let vocab = model.textConfig.vocabSize
        let config: String
        if case .checkpoint = files { config = directory.appendingPathComponent("config.json").path } else { config = directory.path }
        if tokenizer.numBaseTokens > vocab {
            throw ChatEngineError.tokenizerMismatch(file: tokenizer.modelPath, reason:
                "\(tokenizer.numBaseTokens) tokens, more than the model's vocab_size \(vocab) in \(config)")
        }
        if model.vision != nil, let pad = tokenizer.specialTokenID(template.mediaPad), pad != model.mediaPadId {
            throw ChatEngineError.tokenizerMismatch(file: tokenizer.configPath, reason:
                "'\(template.mediaPad)' is id \(pad), but \(config) has media_placeholder_token_id \(model.mediaPadId)")
        }
    }

    /// Decodes and preprocesses an image once per path (the REPL validates paths with this too).
    public func image(_ path: String) throws -> ProcessedImage {
        if let p = processed[path] { return p }
        let p = try model.preprocess(imageAt: URL(fileURLWithPath: path))
        processed[path] = p
        return p
    }

    /// The conversation as chat messages: images first in each user turn, then its text.
    func messages(_ state: ChatState) -> [ChatMessage] {
        var out: [ChatMessage] = []
        if let s = state.system { out.append(.system(s)) }
        for t in state.turns {
            switch t.role {
            case .user:
                out.append(ChatMessage(role: .user, content: t.images.map { _ in .image } + [.text(t.text)]))
            case .assistant:
                out.append(.assistant(t.text))
            }
        }
        return out
    }

    /// Token ids of the conversation ready for the assistant's turn, and the images in order.
    public func promptTokens(_ state: ChatState) throws -> (tokens: [Int], images: [ProcessedImage]) {
        let images = try state.allImages.map(image)
        return (try promptTokens(state, images: images), images)
    }

    /// Token ids of the conversation with its images already preprocessed, one per image in `state`, in order
    /// (batch inference preprocesses rows itself, from files or encoded bytes, and keeps no per-path cache).
    public func promptTokens(_ state: ChatState, images: [ProcessedImage]) throws -> [Int] {
        precondition(images.count == state.allImages.count, "promptTokens: \(images.count) images for \(state.allImages.count) in the conversation")
        return try template.tokenize(messages(state), imageTokenCounts: images.map(\.tokenCount),
                                     addGenerationPrompt: true, tokenizer: tokenizer)
    }

    /// The engine request for the assistant's next turn with these settings.
    public func request(_ state: ChatState) throws -> GenerationRequest {
        try request(state, images: state.allImages.map(image))
    }

    /// The same, with the conversation's images already preprocessed (see `promptTokens(_:images:)`).
    public func request(_ state: ChatState, images: [ProcessedImage]) throws -> GenerationRequest {
        let tokens = try promptTokens(state, images: images)
        let limit = model.textConfig.maxPositionEmbeddings
        guard tokens.count + 1 <= limit else { throw ChatEngineError.contextTooLong(tokens: tokens.count, limit: limit) }
        let s = state.settings
        return GenerationRequest(prompt: Prompt(tokens: tokens, images: images),
                                 sampling: SamplingParameters(temperature: Float(s.temperature), topP: Float(s.topP), topK: s.topK, seed: s.seed),
                                 maxTokens: s.maxTokens, stopTokens: stopIDs)
    }

    /// The text `reply` streams for an answer's tokens (special tokens hidden), at once (batch rows).
    public func answerText(_ tokens: [Int]) -> String {
        var text = StreamingDecoder(tokenizer, hidingSpecialTokens: true)
        return text.append(contentsOf: tokens) + text.finish()
    }

    public func reply(to state: ChatState, onText: (String) -> Void, shouldStop: () -> Bool) throws -> ReplyStats {
        let request = try request(state)
        var text = StreamingDecoder(tokenizer, hidingSpecialTokens: true)
        let result = try engine.generate(request) { token in
            if shouldStop() { return false }
            let piece = text.append(token)
            if !piece.isEmpty { onText(piece) }
            return true
        }
        let rest = text.finish()
        if !rest.isEmpty { onText(rest) }
        if case .failed(let message) = result.finish { throw GenerationFailure(message) }
        var stats = ReplyStats()
        stats.model = model.weightsSummary
        stats.cachedTokens = result.usage.cachedTokens
        stats.promptTokens = result.usage.prefilledTokens
        stats.imageTokens = result.usage.imageTokens
        stats.generatedTokens = result.tokens.count
        stats.prefillSeconds = result.usage.prefillSeconds
        stats.decodeSeconds = result.usage.decodeSeconds
        stats.interrupted = result.finish == .cancelled
        stats.finishReason = switch result.finish {
        case .stop: .stop
        case .length: .length
        case .cancelled, .failed: .interrupted
        }
        return stats
    }
}

/// A generation step failed (the engine reports it as a finish reason; the REPL shows it as an error).
public struct GenerationFailure: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
