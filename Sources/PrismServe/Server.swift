// `prism serve`: Hummingbird routes that only translate HTTP to the engine and back. Limits are explicit
// options; every failure becomes OpenAI's error JSON with its status; SIGTERM stops accepting connections,
// lets the requests in flight finish, then stops the engine.
import Foundation
import Hummingbird
import Logging
import NIOCore
import PrismChat
import PrismSAM
import PrismVLM
import ServiceLifecycle

public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Sequences decoded together (the engine's batch); more requests wait in the queue.
    public var parallel = 16
    /// Requests waiting beyond the running ones before new ones get 429.
    public var maxQueue = 64
    public var maxBodyBytes = 16 << 20
    /// Whole request, queue included, in seconds.
    public var requestTimeout = 300.0
    public var apiKey: String?
    public var images = ImageLimits()
    /// max_tokens when a request gives none.
    public var defaultMaxTokens = 512
    public var logLevel: Logger.Level = .info
    public init() {}
}

public enum ServeError: Error, CustomStringConvertible, Equatable {
    case cannotListen(address: String, reason: String)
    public var description: String {
        switch self {
        case let .cannotListen(a, r): "cannot listen on \(a): \(r)"
        }
    }
}

/// Requests admitted (queued or running) against a fixed capacity.
final class Admission: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    let capacity: Int
    init(capacity: Int) { self.capacity = capacity }

    func enter() -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard count < capacity else { return false }
        count += 1
        return true
    }
    func leave() { lock.lock(); count -= 1; lock.unlock() }
    var current: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// One admitted request; the place is given back when the last reference goes, on every path.
final class AdmissionSlot: @unchecked Sendable {
    let admission: Admission
    init?(_ admission: Admission) {
        guard admission.enter() else { return nil }
        self.admission = admission
    }
    deinit { admission.leave() }
}

public final class PrismServer: @unchecked Sendable {
    public let options: ServeOptions
    let chat: ChatService?
    let segmenter: SegmentService?
    let metrics = ServerMetrics()
    let chatAdmission: Admission
    let segmentAdmission: Admission
    let created = Int(Date().timeIntervalSince1970)
    private let groupLock = NSLock()
    private var group: ServiceGroup?

    /// `chat` and `sam` are loaded models (either may be absent: its endpoints then answer 404).
    public init(chat: KimiVLEngine?, chatName: String, sam: SamPredictor?, samName: String, options: ServeOptions) {
        self.options = options
        let loader = ImageLoader(limits: options.images)
        self.chat = chat.map { ChatService(bundle: $0, name: chatName, images: loader, defaultMaxTokens: options.defaultMaxTokens) }
        segmenter = sam.map { SegmentService(predictor: $0, name: samName, images: loader) }
        chatAdmission = Admission(capacity: options.parallel + options.maxQueue)
        segmentAdmission = Admission(capacity: 1 + options.maxQueue)
    }

    // MARK: - Running

    /// Serves until SIGTERM/SIGINT (with `handleSignals`) or `shutdown()`, then drains: requests in flight finish,
    /// the engine stops. `onStarted` gets the bound port (useful with port 0).
    public func run(handleSignals: Bool = true, onStarted: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var logger = Logger(label: "prism-serve")
        logger.logLevel = options.logLevel
        chat?.engine.start()
        let app = Application(router: router(), configuration: .init(address: .hostname(options.host, port: options.port), serverName: "prism"),
                              onServerRunning: { channel in await onStarted(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        groupLock.withLock { self.group = group }
        defer { chat?.engine.shutdown(drain: true) }
        do {
            try await group.run()
        } catch let e as IOError {
            throw ServeError.cannotListen(address: "\(options.host):\(options.port)", reason: String(cString: strerror(e.errnoCode)))
        }
    }

    /// Starts the same graceful shutdown SIGTERM does.
    public func shutdown() async {
        let g = groupLock.withLock { group }
        await g?.triggerGracefulShutdown()
    }

    // MARK: - Routes

    func router() -> Hummingbird.Router<ServeContext> {
        let router = Hummingbird.Router(context: ServeContext.self)
        router.middlewares.add(APIMiddleware(server: self))
        router.get("/health") { _, _ in try self.json(HealthBody(status: "ok", models: self.modelNames)) }
        router.get("/metrics") { _, _ in
            self.metrics.update(engine: self.chat?.engine.snapshot ?? EngineSnapshot(),
                                waitingForAdmission: 0, samEmbeddings: self.segmenter?.cachedEmbeddings)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: self.metrics.text)))
        }
        router.get("/v1/models") { _, _ in
            try self.json(ModelList(data: self.modelNames.map { .init(id: $0, created: self.created) }))
        }
        router.post("/v1/chat/completions") { request, context in try await self.chatCompletions(request, context) }
        router.post("/v1/segment") { request, _ in try await self.segment(request) }
        return router
    }

    public var modelNames: [String] { [chat?.name, segmenter?.name].compactMap { $0 } }

    struct HealthBody: Encodable { let status: String; let models: [String] }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// The body as `T`: 413 past the size limit, 400 naming the field when it is not valid JSON of that shape.
    func decodeBody<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let limit = options.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw APIError.tooLarge(limit: limit) }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge(limit: limit)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            throw APIError.tooLarge(limit: limit)
        }
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: buffer)) } catch { throw apiError(decoding: error) }
    }

    func served<T>(_ service: T?, _ kind: String) throws -> T {
        guard let service else { throw APIError.notFound("This server has no \(kind) model loaded.", code: "model_not_found") }
        return service
    }

    /// A request may name the model (OpenAI clients always do); another name is a 404, as OpenAI answers it.
    func check(model: String?, served name: String) throws {
        if let m = model, !m.isEmpty, m != name {
            throw APIError.notFound("The model '\(m)' does not exist; this server has '\(name)'.", code: "model_not_found")
        }
    }

    // MARK: - /v1/chat/completions

    func chatCompletions(_ request: Request, _ context: ServeContext) async throws -> Response {
        let chat = try served(self.chat, "chat")
        let body = try await decodeBody(ChatCompletionRequest.self, request)
        try check(model: body.model, served: chat.name)
        guard let slot = AdmissionSlot(chatAdmission) else { throw APIError.busy(retryAfter: 1) }
        defer { withExtendedLifetime(slot) {} }
        let prepared = try await chat.prepare(body)
        let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let created = Int(Date().timeIntervalSince1970)
        let cancel = CancelSignal()
        let timeout = options.requestTimeout

        guard prepared.stream else {
            let outcome = try await DisconnectWatcher.watching(context.channel, onClose: { cancel.fire(.disconnected) }) {
                try await chat.run(prepared, timeout: timeout, cancel: cancel, onText: { _ in true })
            }
            metrics.timeToFirstToken(outcome.timeToFirstToken)
            return try json(ChatCompletion(id: id, created: created, model: chat.name,
                                           choices: [.init(index: 0, message: .init(content: outcome.text), finishReason: outcome.finishReason)],
                                           usage: outcome.usage))
        }

        // Streaming: the admission slot moves into the response body, which outlives this handler (and is
        // released with it even if the body never runs because the client left first).
        let metrics = self.metrics, name = chat.name, channel = context.channel
        @Sendable func chunk(_ delta: ChatCompletionChunk.Delta, finish: String? = nil, usage: Usage? = nil, choices: Bool = true) -> ByteBuffer {
            let c = ChatCompletionChunk(id: id, created: created, model: name,
                                        choices: choices ? [.init(index: 0, delta: delta, finishReason: finish)] : [], usage: usage)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            return ByteBuffer(string: "data: " + String(decoding: (try? encoder.encode(c)) ?? Data(), as: UTF8.self) + "\n\n")
        }
        // the per-token chunk is the same JSON as chunk(.init(content:)) gives, written without an encoder per token
        let deltaHead = "data: {\"id\":\(jsonString(id)),\"object\":\"chat.completion.chunk\",\"created\":\(created),\"model\":\(jsonString(name)),"
            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
        @Sendable func contentChunk(_ piece: String) -> ByteBuffer {
            ByteBuffer(string: deltaHead + jsonString(piece) + "},\"finish_reason\":null}]}\n\n")
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: .init { writer in
            defer { withExtendedLifetime(slot) {} }
            try await DisconnectWatcher.watching(channel, onClose: { cancel.fire(.disconnected) }) {
                do {
                    try await writer.write(chunk(.init(role: "assistant", content: "")))
                    let outcome = try await chat.run(prepared, timeout: timeout, cancel: cancel, onText: { piece in
                        do { try await writer.write(contentChunk(piece)); return true } catch { return false }
                    })
                    metrics.timeToFirstToken(outcome.timeToFirstToken)
                    try await writer.write(chunk(.init(), finish: outcome.finishReason))
                    if prepared.includeUsage { try await writer.write(chunk(.init(), usage: outcome.usage, choices: false)) }
                } catch let e as APIError {
                    metrics.error(type: e.type)
                    try await writer.write(ByteBuffer(string: "data: " + String(decoding: e.json, as: UTF8.self) + "\n\n"))
                } catch is CancellationError {
                    metrics.cancelled(reason: "disconnected")
                    return
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            }
            try await writer.finish(nil)
        })
    }

    // MARK: - /v1/segment

    func segment(_ request: Request) async throws -> Response {
        let segmenter = try served(self.segmenter, "segmentation")
        let body = try await decodeBody(SegmentRequest.self, request)
        try check(model: body.model, served: segmenter.name)
        guard let slot = AdmissionSlot(segmentAdmission) else { throw APIError.busy(retryAfter: 1) }
        defer { withExtendedLifetime(slot) {} }
        let timeout = options.requestTimeout
        do {
            return try json(try await withDeadline(timeout) { try await segmenter.segment(body) })
        } catch is DeadlineExceeded {
            throw APIError.timeout(seconds: timeout)
        }
    }
}

/// API key check, error JSON for everything thrown (unknown routes included), and request metrics.
struct APIMiddleware: RouterMiddleware {
    typealias Context = ServeContext
    let server: PrismServer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let endpoint = ["/v1/chat/completions", "/v1/segment", "/v1/models", "/health", "/metrics"].first { request.uri.path == $0 } ?? "other"
        let response: Response
        do {
            if let key = server.options.apiKey, request.uri.path.hasPrefix("/v1/"), !authorized(request, key: key) {
                throw APIError.unauthorized()
            }
            response = try await next(request, context)
        } catch {
            let e: APIError
            switch error {
            case let a as APIError: e = a
            case let h as HTTPError where h.status == .notFound:
                e = .notFound("No route for \(request.method) \(request.uri.path).", code: "unknown_url")
            case let h as HTTPError where h.status == .methodNotAllowed:
                e = APIError(.methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path).")
            case let h as HTTPError: e = APIError(h.status, h.body ?? h.status.reasonPhrase)
            case is CancellationError: e = APIError(.init(code: 499, reasonPhrase: "Client Closed Request"), "The client went away.", type: "cancelled")
            default: e = .server("\(error)")
            }
            server.metrics.error(type: e.code ?? e.type)
            response = try e.response(from: request, context: context)
        }
        server.metrics.request(endpoint: endpoint, status: response.status.code,
                               seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        return response
    }

    /// `Authorization: Bearer KEY`, compared in constant time.
    func authorized(_ request: Request, key: String) -> Bool {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst(7).utf8), expected = Array(key.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// `s` as a JSON string literal: quotes, backslashes and control characters escaped, everything else as UTF-8.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
