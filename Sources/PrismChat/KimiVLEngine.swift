import Foundation
import PrismCore
import PrismIO
import PrismTokenizer
import PrismVLM

public enum ChatEngineError: Error, CustomStringConvertible, Equatable {
    case contextTooLong(tokens: Int, limit: Int)
    case noTokenizer(directory: String)

    public var description: String {
        switch self {
        case let .contextTooLong(t, l):
            "the conversation needs \(t) tokens but the model's context holds \(l): use smaller or fewer images, or /clear"
        case let .noTokenizer(d): "\(d): no tiktoken.model / tokenizer_config.json beside the weights"
        }
    }
}

/// A Kimi-VL model, its tokenizer and chat template behind the REPL's `ChatEngine`.
///
/// The KV cache outlives a reply: each new reply tokenizes the whole conversation, keeps the longest prefix
/// already in the cache (never splitting an image's pad run) and prefills only the rest. A follow-up question
/// therefore costs its own tokens, not the history's, and images are encoded once per conversation.
public final class KimiVLEngine: ChatEngine {
    public let model: KimiVL
    public let tokenizer: TikTokenizer
    public let template: ChatTemplate
    public let directory: URL
    private let stopIDs: Set<Int>
    private let cache: KVCache
    private var cachedTokens: [Int] = []
    private var processed: [String: ProcessedImage] = [:]

    public convenience init(directory: URL, template: ChatTemplate) throws {
        try self.init(files: .checkpoint(directory), template: template)
    }

    /// A checkpoint directory or a GGUF pair (the tokenizer then comes from the GGUF metadata).
    public init(files: ModelFiles, template: ChatTemplate) throws {
        let fm = FileManager.default
        if case let .checkpoint(directory) = files, !fm.fileExists(atPath: directory.appendingPathComponent("tiktoken.model").path) {
            if !fm.fileExists(atPath: directory.appendingPathComponent("config.json").path) {
                throw ConfigError.missingFile(path: directory.appendingPathComponent("config.json").path)
            }
            throw ChatEngineError.noTokenizer(directory: directory.path)
        }
        directory = files.url
        model = try files.loadModel()
        tokenizer = try files.loadTokenizer()
        self.template = template
        stopIDs = Set(template.stopTokenIDs(tokenizer))
        cache = model.newCache()
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
        let tokens = try template.tokenize(messages(state), imageTokenCounts: images.map(\.tokenCount),
                                           addGenerationPrompt: true, tokenizer: tokenizer)
        return (tokens, images)
    }

    public func reply(to state: ChatState, onText: (String) -> Void, shouldStop: () -> Bool) throws -> ReplyStats {
        let (tokens, images) = try promptTokens(state)
        let limit = model.textConfig.maxPositionEmbeddings
        guard tokens.count + 1 <= limit else { throw ChatEngineError.contextTooLong(tokens: tokens.count, limit: limit) }

        // Reuse the cached prefix; an image's pads are all re-run or none (its embedding is computed whole).
        let runs = padRuns(tokens)
        var keep = zip(tokens, cachedTokens).prefix { $0 == $1 }.count
        keep = min(keep, tokens.count - 1)            // at least one token must run to produce logits
        if let cut = runs.first(where: { $0.contains(keep) && $0.lowerBound < keep }) { keep = cut.lowerBound }
        cache.truncate(to: keep)
        cachedTokens = Array(tokens[..<keep])
        let newImages = zip(runs, images).filter { $0.0.lowerBound >= keep }.map(\.1)

        var stats = ReplyStats()
        stats.model = model.weightsSummary
        stats.cachedTokens = keep
        stats.promptTokens = tokens.count - keep
        stats.imageTokens = newImages.reduce(0) { $0 + $1.tokenCount }
        let settings = state.settings
        var sampler = Sampler(SamplingParameters(temperature: Float(settings.temperature), topP: Float(settings.topP),
                                                 topK: settings.topK, seed: settings.seed))
        var text = StreamingDecoder(tokenizer, hidingSpecialTokens: true)
        var history = tokens.filter { $0 != model.mediaPadId }

        var t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try model.prefill(Prompt(tokens: Array(tokens[keep...]), images: newImages), cache: cache)
        cachedTokens = tokens
        stats.prefillSeconds = seconds(since: t0)
        t0 = DispatchTime.now().uptimeNanoseconds
        let budget = min(settings.maxTokens, limit - tokens.count)
        stats.finishReason = .length             // a budget of 0 generates nothing
        while stats.generatedTokens < budget {
            if shouldStop() { stats.interrupted = true; stats.finishReason = .interrupted; break }
            let next = sampler.sample(logits: logits, history: history)
            if stopIDs.contains(next) { stats.finishReason = .stop; break }
            stats.generatedTokens += 1
            history.append(next)
            let piece = text.append(next)
            if !piece.isEmpty { onText(piece) }
            if stats.generatedTokens == budget { stats.finishReason = .length; break }
            logits = try model.decode(token: next, cache: cache)
            cachedTokens.append(next)
        }
        let rest = text.finish()
        if !rest.isEmpty { onText(rest) }
        stats.decodeSeconds = seconds(since: t0)
        return stats
    }

    /// Ranges of consecutive media-pad ids, one per image in order.
    func padRuns(_ tokens: [Int]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var i = 0
        while i < tokens.count {
            if tokens[i] == model.mediaPadId {
                let start = i
                while i < tokens.count && tokens[i] == model.mediaPadId { i += 1 }
                runs.append(start..<i)
            } else { i += 1 }
        }
        return runs
    }

    /// Tokens whose keys and values are in the cache (for tests and /stats).
    public var cachedTokenCount: Int { cache.count }
}

func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
