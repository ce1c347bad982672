// /v1/chat/completions over the generation engine: an OpenAI request becomes a chat-template prompt with its
// images, one engine sequence runs it (batched with every other request), and the tokens come back as text,
// cut at `stop` strings, whole or as stream deltas.
import Foundation
import PrismChat
import PrismCore
import PrismIO
import PrismTokenizer
import PrismVLM

/// A validated chat request, ready for the engine.
struct PreparedChat: Sendable {
    var generation: GenerationRequest
    var stops: [String]
    var stream: Bool
    var includeUsage: Bool
}

/// How one generation ended, as the API reports it.
struct ChatOutcome: Sendable {
    var text: String
    var finishReason: String
    var usage: Usage
    var timeToFirstToken: Double
}

final class ChatService: @unchecked Sendable {
    let bundle: KimiVLEngine
    let name: String
    let images: ImageLoader
    let defaultMaxTokens: Int
    var engine: GenerationEngine { bundle.engine }

    init(bundle: KimiVLEngine, name: String, images: ImageLoader, defaultMaxTokens: Int) {
        self.bundle = bundle; self.name = name; self.images = images; self.defaultMaxTokens = defaultMaxTokens
    }

    // MARK: - Request → engine request

    func prepare(_ r: ChatCompletionRequest) async throws -> PreparedChat {
        guard !r.messages.isEmpty else { throw APIError.invalid("'messages' must contain at least one message.", param: "messages") }
        if let n = r.n, n != 1 { throw APIError.invalid("Only n = 1 is supported.", param: "n") }
        let maxTokens = r.maxCompletionTokens ?? r.maxTokens ?? defaultMaxTokens
        guard maxTokens >= 1 else {
            throw APIError.invalid("max_tokens must be at least 1.", param: r.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens")
        }
        let temperature = r.temperature ?? 1
        guard temperature >= 0 && temperature <= 2 else { throw APIError.invalid("temperature must be in [0, 2].", param: "temperature") }
        let topP = r.topP ?? 1
        guard topP > 0 && topP <= 1 else { throw APIError.invalid("top_p must be in (0, 1].", param: "top_p") }
        let topK = r.topK ?? 0
        guard topK >= 0 else { throw APIError.invalid("top_k must be ≥ 0.", param: "top_k") }
        let stops = r.stop?.values ?? []
        guard stops.count <= 4 else { throw APIError.invalid("At most 4 stop sequences are allowed.", param: "stop") }

        var messages: [ChatMessage] = []
        var encoded: [(data: Data, param: String)] = []
        for (i, m) in r.messages.enumerated() {
            var content: [ChatContent] = []
            for (j, part) in m.content.enumerated() {
                switch part {
                case .text(let t): content.append(.text(t))
                case .imageURL(let url):
                    guard m.role == .user else {
                        throw APIError.invalid("Images are only allowed in user messages.", param: "messages[\(i)].content[\(j)]")
                    }
                    let param = "messages[\(i)].content[\(j)].image_url"
                    encoded.append((try await images.load(url, param: param), param))
                    content.append(.image)
                }
            }
            let role: ChatRole = switch m.role { case .system, .developer: .system; case .user: .user; case .assistant: .assistant }
            messages.append(ChatMessage(role: role, content: content))
        }
        let model = bundle.model
        let processed = try await offload {
            try encoded.map { item in
                do { return try model.preprocess(imageData: item.data, name: item.param) } catch {
                    throw APIError.invalid("The image could not be decoded: \(error)", param: item.param, code: "invalid_image")
                }
            }
        }
        let tokens = try bundle.template.tokenize(messages, imageTokenCounts: processed.map(\.tokenCount),
                                                  addGenerationPrompt: true, tokenizer: bundle.tokenizer)
        let limit = model.textConfig.maxPositionEmbeddings
        guard tokens.count < limit else {
            throw APIError.invalid("This model's maximum context length is \(limit) tokens; the messages take \(tokens.count).",
                                   param: "messages", code: "context_length_exceeded")
        }
        let sampling = SamplingParameters(temperature: Float(temperature), topP: Float(topP), topK: topK,
                                          seed: r.seed.map { UInt64(bitPattern: $0) })
        return PreparedChat(generation: GenerationRequest(prompt: Prompt(tokens: tokens, images: processed), sampling: sampling,
                                                          maxTokens: maxTokens, stopTokens: r.ignoreEos == true ? [] : bundle.stopIDs),
                            stops: stops, stream: r.stream ?? false, includeUsage: r.streamOptions?.includeUsage ?? false)
    }

    // MARK: - Running

    /// Runs one prepared chat on the engine. `onText` gets each piece of answer text as it is known (nothing
    /// when there is none); it returns false when the client is gone. The sequence is cancelled, and its cache
    /// freed at the engine's next step, when the client leaves, the deadline passes or a stop string appears.
    func run(_ chat: PreparedChat, timeout: Double, cancel: CancelSignal, onText: (String) async -> Bool) async throws -> ChatOutcome {
        let (stream, continuation) = AsyncStream.makeStream(of: GenerationEvent.self)
        let id: Int
        do {
            id = try engine.submit(chat.generation) { event in
                continuation.yield(event)
                if case .finished = event { continuation.finish() }
                return true
            }
        } catch EngineError.shuttingDown {
            throw APIError.unavailable("The server is shutting down.")
        } catch {
            throw APIError.invalid("\(error)", param: "messages")
        }
        let engine = self.engine
        cancel.onCancel { engine.cancel(id) }
        // a handler task cancelled while waiting (its connection gone) stops the sequence too
        continuation.onTermination = { termination in if case .cancelled = termination { engine.cancel(id) } }
        let timer = Task {
            try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
            cancel.fire(.timeout)
        }
        defer { timer.cancel() }

        var text = StreamingDecoder(bundle.tokenizer, hidingSpecialTokens: true)
        var stop = StopText(chat.stops)
        var completion = 0
        var result: GenerationResult?
        for await event in stream {
            switch event {
            case .token(let t):
                guard !stop.stopped, cancel.reason == nil else { continue }
                completion += 1
                let piece = stop.append(text.append(t))
                if stop.stopped { cancel.fire(.stopString) }
                if !piece.isEmpty, !(await onText(piece)) { cancel.fire(.disconnected) }
            case .finished(let r):
                result = r
            }
        }
        guard let result else {
            if Task.isCancelled { throw CancellationError() }
            throw APIError.server("The engine ended the request without a result.")
        }
        if cancel.reason == .timeout { throw APIError.timeout(seconds: timeout) }
        if cancel.reason == .disconnected { throw CancellationError() }
        if case .failed(let message) = result.finish { throw APIError.server("Generation failed: \(message)") }
        let finish: String
        if stop.stopped {
            finish = "stop"
        } else {
            let rest = stop.append(text.finish()) + stop.finish()
            if !rest.isEmpty { _ = await onText(rest) }
            finish = result.finish == .length ? "length" : "stop"
        }
        return ChatOutcome(text: stop.answer, finishReason: finish,
                           usage: Usage(prompt: result.usage.promptTokens, completion: completion),
                           timeToFirstToken: result.usage.timeToFirstToken)
    }
}

/// Why a request's sequence was cancelled; set once, from any thread, and run the cancel action once.
final class CancelSignal: @unchecked Sendable {
    enum Reason: Sendable { case timeout, disconnected, stopString }
    private let lock = NSLock()
    private var _reason: Reason?
    private var action: (() -> Void)?

    var reason: Reason? { lock.lock(); defer { lock.unlock() }; return _reason }

    func onCancel(_ f: @escaping () -> Void) {
        lock.lock()
        let fired = _reason != nil
        if !fired { action = f }
        lock.unlock()
        if fired { f() }
    }

    func fire(_ r: Reason) {
        lock.lock()
        guard _reason == nil else { lock.unlock(); return }
        _reason = r
        let f = action
        action = nil
        lock.unlock()
        f?()
    }
}

/// Runs CPU-bound work (image decoding, SAM) on a Dispatch thread, off Swift's cooperative pool.
func offload<T>(on queue: DispatchQueue = .global(), _ work: @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        queue.async {
            do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
        }
    }
}
