import Foundation
import PrismChat
import PrismSAM
import PrismServe
import PrismTestSupport
import PrismTokenizer
import PrismVLM
import XCTest

/// The repository's embedded models and example image (what `prism serve` uses without -m).
enum Embedded {
    /// The checkout (this file is Tests/PrismServeTests/TestServer.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let vlm = root.appendingPathComponent("Weights/prism-vl-tiny")
    static let sam = root.appendingPathComponent("Weights/prism-sam-tiny")
    static let scene = root.appendingPathComponent("Weights/examples/scene.png")
    /// A random-weight model that never says <|im_end|>: answers run to max_tokens.
    static let randomVLM = root.appendingPathComponent("Tests/PrismChatTests/Fixtures/chat_tiny")
    static let template = try! ChatTemplate.load(explicit: root.appendingPathComponent("Prompts"))
    static var sceneDataURI: String { "data:image/png;base64," + (try! Data(contentsOf: scene)).base64EncodedString() }
}

/// A `PrismServer` running in this process on 127.0.0.1 and a free port.
final class TestServer: @unchecked Sendable {
    let server: PrismServer
    let chat: KimiVLEngine?
    let port: Int
    private let task: Task<Void, Error>

    static func start(model: URL = Embedded.vlm, sam: Bool = true, parallel: Int = 8,
                      configure: (inout ServeOptions) -> Void = { _ in }) async throws -> TestServer {
        var options = ServeOptions()
        options.port = 0
        options.parallel = parallel
        options.logLevel = .error
        configure(&options)
        let chat = try KimiVLEngine(directory: model, template: Embedded.template, options: EngineOptions(maxBatch: parallel))
        let predictor = sam ? try SamPredictor(directory: Embedded.sam) : nil
        let server = PrismServer(chat: chat, chatName: model.lastPathComponent, sam: predictor, samName: "prism-sam-tiny", options: options)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let task = Task { try await server.run(handleSignals: false) { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw URLError(.cannotConnectToHost) }
        return TestServer(server: server, chat: chat, port: port, task: task)
    }

    private init(server: PrismServer, chat: KimiVLEngine?, port: Int, task: Task<Void, Error>) {
        self.server = server; self.chat = chat; self.port = port; self.task = task
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// Graceful shutdown, as SIGTERM; returns when `run` has returned.
    func stop() async throws {
        await server.shutdown()
        try await task.value
    }
}

struct HTTPResult {
    let status: Int
    let headers: [String: String]
    let body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
}

/// A request over a fresh loopback connection, read to the end (`Connection: close`).
func http(_ method: String = "POST", _ url: String, json: Any? = nil, raw: Data? = nil,
          headers: [String: String] = [:]) async throws -> HTTPResult {
    let body = try json.map { try JSONSerialization.data(withJSONObject: $0) } ?? raw
    return try await blocking {
        let connection = try RawHTTP(url: url)
        defer { connection.close() }
        try connection.send(method: method, body: body, headers: headers)
        return try connection.readResponse()
    }
}

/// Runs blocking socket I/O on a Dispatch thread, so it never holds one of Swift's few cooperative threads
/// (which the in-process server's handlers need).
func blocking<T>(_ work: @escaping () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        DispatchQueue.global().async { c.resume(with: Result { try work() }) }
    }
}

/// The `data:` payloads of a Server-Sent Events body, in order.
func events(_ body: String) -> [String] {
    body.components(separatedBy: "\n\n").compactMap { block in
        let line = block.trimmingCharacters(in: .whitespacesAndNewlines)
        return line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil
    }
}

func chatBody(_ content: Any, maxTokens: Int = 48, stream: Bool = false, extra: [String: Any] = [:]) -> [String: Any] {
    var body: [String: Any] = ["messages": [["role": "user", "content": content]], "max_tokens": maxTokens,
                               "temperature": 0, "seed": 0, "stream": stream]
    for (k, v) in extra { body[k] = v }
    return body
}

func imageQuestion(_ question: String, images: [String]) -> [[String: Any]] {
    images.map { ["type": "image_url", "image_url": ["url": $0]] } + [["type": "text", "text": question]]
}

/// The answer `reply` gives in this process for the same conversation (what chat and ask print).
func localAnswer(_ engine: KimiVLEngine, question: String, images: [String], maxTokens: Int = 48) throws -> String {
    var state = ChatState()
    state.settings.temperature = 0
    state.settings.maxTokens = maxTokens
    state.pendingImages = images
    state.addUserTurn(question)
    var text = ""
    _ = try engine.reply(to: state, onText: { text += $0 }, shouldStop: { false })
    return text
}

/// `prism` built beside the test bundle, run with `arguments` in this checkout.
func runPrism(_ arguments: [String]) throws -> PrismRun { try runPrism(arguments, home: Embedded.root.path) }
