import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import PrismChat
import PrismIO
import PrismSAM
@testable import PrismServe
import PrismTestSupport
import PrismVLM
import XCTest

/// `prism serve` in this process with the embedded models on 127.0.0.1 and a free port, driven over raw HTTP.
final class ServerTests: XCTestCase {
    nonisolated(unsafe) static var shared: TestServer?

    func server() async throws -> TestServer {
        if let s = Self.shared { return s }
        let s = try await TestServer.start()
        Self.shared = s
        return s
    }

    override class func tearDown() {
        if let s = shared {
            let done = DispatchSemaphore(value: 0)
            Task { try? await s.stop(); done.signal() }
            done.wait()
        }
        super.tearDown()
    }

    func chat(_ s: TestServer, _ body: [String: Any], headers: [String: String] = [:]) async throws -> HTTPResult {
        try await http("POST", s.base + "/v1/chat/completions", json: body, headers: headers)
    }

    func assertOpenAIError(_ r: HTTPResult, status: Int, code: String?, param: String? = nil, type: String = "invalid_request_error",
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.text, file: file, line: line)
        let e = r.error
        XCTAssertEqual(Set(e.keys), ["message", "type", "param", "code"], r.text, file: file, line: line)
        XCTAssertFalse((e["message"] as? String ?? "").isEmpty, file: file, line: line)
        XCTAssertEqual(e["type"] as? String, type, file: file, line: line)
        XCTAssertEqual(e["code"] as? String, code, file: file, line: line)
        XCTAssertEqual(e["param"] as? String, param, file: file, line: line)
        XCTAssertEqual(r.headers["content-type"], "application/json", file: file, line: line)
    }

    // MARK: - Endpoints

    func testModelsHealthAndMetrics() async throws {
        let s = try await server()
        let models = try await http("GET", s.base + "/v1/models")
        XCTAssertEqual(models.status, 200)
        XCTAssertEqual((models.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["prism-vl-tiny", "prism-sam-tiny"])
        let health = try await http("GET", s.base + "/health")
        XCTAssertEqual(health.json["status"] as? String, "ok")
        _ = try await chat(s, chatBody("hello", maxTokens: 2))
        let metrics = try await http("GET", s.base + "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        for name in ["prism_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}", "prism_queue_length",
                     "prism_running_sequences", "prism_batch_size", "prism_generated_tokens_total",
                     "prism_time_to_first_token_seconds_bucket", "prism_http_request_duration_seconds_count",
                     "prism_images_encoded_total", "prism_vision_passes_total"] {
            XCTAssertTrue(metrics.text.contains(name), "missing \(name) in\n\(metrics.text)")
        }
    }

    /// The greedy answer to an image question equals what `prism ask` prints for the same prompt and seed.
    func testGreedyAnswerEqualsPrismAsk() async throws {
        let s = try await server()
        let question = "What color is the star?"
        let r = try await chat(s, chatBody(imageQuestion(question, images: [Embedded.sceneDataURI])))
        XCTAssertEqual(r.status, 200, r.text)
        let choice = (r.json["choices"] as! [[String: Any]])[0]
        let answer = (choice["message"] as! [String: Any])["content"] as! String
        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
        let ask = try runPrism(["ask", "--image", Embedded.scene.path, "-p", question, "--temp", "0", "--seed", "0", "--max-tokens", "48"])
        XCTAssertEqual(ask.status, 0, ask.stderr)
        XCTAssertEqual(answer + "\n", ask.stdout)
        XCTAssertFalse(answer.isEmpty)
        let usage = r.json["usage"] as! [String: Int]
        let (tokens, _) = try s.chat!.promptTokens({ var st = ChatState(); st.pendingImages = [Embedded.scene.path]; st.addUserTurn(question); return st }())
        XCTAssertEqual(usage["prompt_tokens"], tokens.count)
        XCTAssertEqual(usage["total_tokens"], usage["prompt_tokens"]! + usage["completion_tokens"]!)
        XCTAssertEqual(r.json["object"] as? String, "chat.completion")
        XCTAssertEqual(r.json["model"] as? String, "prism-vl-tiny")
    }

    func testMaxTokensEndsWithLength() async throws {
        let s = try await server()
        let r = try await chat(s, chatBody(imageQuestion("Describe the image.", images: [Embedded.sceneDataURI]), maxTokens: 3))
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(((r.json["choices"] as! [[String: Any]])[0]["finish_reason"]) as? String, "length")
        XCTAssertEqual((r.json["usage"] as! [String: Int])["completion_tokens"], 3)
        // max_completion_tokens wins over max_tokens
        let c = try await chat(s, chatBody("hi", maxTokens: 9, extra: ["max_completion_tokens": 2]))
        XCTAssertEqual((c.json["usage"] as! [String: Int])["completion_tokens"], 2)
    }

    /// Streaming sends a role chunk, content deltas whose concatenation is the non-streamed answer, a chunk with
    /// finish_reason, the usage chunk when asked, then [DONE].
    func testStreamingMatchesNonStreaming() async throws {
        let s = try await server()
        let content = imageQuestion("Describe the image.", images: [Embedded.sceneDataURI])
        let whole = try await chat(s, chatBody(content))
        let text = ((whole.json["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])["content"] as! String
        let r = try await chat(s, chatBody(content, stream: true, extra: ["stream_options": ["include_usage": true]]))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "text/event-stream")
        let data = events(r.text)
        XCTAssertEqual(data.last, "[DONE]")
        let chunks = data.dropLast().map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" && $0["id"] as? String == chunks[0]["id"] as? String })
        let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
        XCTAssertEqual((choices.first?["delta"] as? [String: Any])?["role"] as? String, "assistant")
        let streamed = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        XCTAssertEqual(streamed, text)
        XCTAssertEqual(choices.last?["finish_reason"] as? String, "stop")
        XCTAssertTrue(choices.dropLast().allSatisfy { $0["finish_reason"] is NSNull })
        XCTAssertEqual(chunks.last?["usage"] as? [String: Int], whole.json["usage"] as? [String: Int])
    }

    /// Two images in one message answer as the same conversation does in-process (what `prism chat` gives).
    func testTwoImagesInOneMessage() async throws {
        let s = try await server()
        let other = temporaryDirectory().appendingPathComponent("small.png")
        let img = try RGBImage(contentsOf: Embedded.scene)
        let half = RGBImage(width: img.width / 2, height: img.height / 2, pixels: (0..<(img.width / 2 * (img.height / 2))).flatMap { i -> [UInt8] in
            let x = i % (img.width / 2) * 2, y = i / (img.width / 2) * 2
            return Array(img.pixels[((y * img.width + x) * 3)..<((y * img.width + x) * 3 + 3)])
        })
        try half.pngData().write(to: other)
        let uris = [Embedded.sceneDataURI, "data:image/png;base64," + (try Data(contentsOf: other)).base64EncodedString()]
        let question = "How many stars are there?"
        let r = try await chat(s, chatBody(imageQuestion(question, images: uris)))
        XCTAssertEqual(r.status, 200, r.text)
        let answer = ((r.json["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])["content"] as! String
        let local = try KimiVLEngine(directory: Embedded.vlm, template: Embedded.template)
        XCTAssertEqual(answer, try localAnswer(local, question: question, images: [Embedded.scene.path, other.path]))
        let one = try await chat(s, chatBody(imageQuestion(question, images: [uris[0]])))
        let images = try [Embedded.scene.path, other.path].map { try local.image($0).tokenCount }
        XCTAssertEqual((r.json["usage"] as! [String: Int])["prompt_tokens"]! - (one.json["usage"] as! [String: Int])["prompt_tokens"]!,
                       images[1] + 4, "the second image adds its tokens and its start/end markers")
    }

    func testStopStrings() async throws {
        let s = try await server()
        let content = imageQuestion("Describe the image.", images: [Embedded.sceneDataURI])
        let full = try await chat(s, chatBody(content))
        let text = ((full.json["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])["content"] as! String
        let words = text.split(separator: " ")
        XCTAssertGreaterThan(words.count, 2, text)
        let stop = " " + words[1]
        for stream in [false, true] {
            let r = try await chat(s, chatBody(content, stream: stream, extra: ["stop": [stop, "never-appears"]]))
            let answer: String, finish: String?
            if stream {
                let choices = events(r.text).dropLast().compactMap {
                    ((try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["choices"] as? [[String: Any]])?.first
                }
                answer = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
                finish = choices.last?["finish_reason"] as? String
            } else {
                let choice = (r.json["choices"] as! [[String: Any]])[0]
                answer = (choice["message"] as! [String: Any])["content"] as! String
                finish = choice["finish_reason"] as? String
            }
            XCTAssertEqual(answer, String(text[..<text.range(of: stop)!.lowerBound]), "stream \(stream)")
            XCTAssertEqual(finish, "stop")
        }
    }

    /// Concurrent requests share packed steps and still answer exactly as one at a time.
    func testConcurrentRequestsAnswerAsSequentialOnes() async throws {
        let s = try await server()
        let questions = ["What color is the star?", "Describe the image.", "Is there a purple star?", "What shape is at the top?"]
        var sequential: [String] = []
        for q in questions {
            let r = try await chat(s, chatBody(imageQuestion(q, images: [Embedded.sceneDataURI])))
            sequential.append(((r.json["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])["content"] as! String)
        }
        s.chat!.engine.clearCaches()
        let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (i, q) in questions.enumerated() {
                group.addTask {
                    let r = try await self.chat(s, chatBody(imageQuestion(q, images: [Embedded.sceneDataURI])))
                    return (i, ((r.json["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])["content"] as! String)
                }
            }
            var out = [String](repeating: "", count: questions.count)
            for try await (i, a) in group { out[i] = a }
            return out
        }
        XCTAssertEqual(together, sequential)
    }

    // MARK: - Images by URL and path

    func testImageFromHTTPURLAndLocalPaths() async throws {
        let s = try await server()
        let png = try Data(contentsOf: Embedded.scene)
        let router = Router()
        router.get("/scene.png") { _, _ in Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(bytes: png))) }
        router.get("/missing.png") { _, _ -> Response in throw HTTPError(.notFound) }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress!.port!) })
        let serving = Task { try await app.run() }
        defer { serving.cancel() }
        var it = ports.makeAsyncIterator()
        let port = await it.next()!
        let question = "What color is the star?"
        let byURL = try await chat(s, chatBody(imageQuestion(question, images: ["http://127.0.0.1:\(port)/scene.png"])))
        let byData = try await chat(s, chatBody(imageQuestion(question, images: [Embedded.sceneDataURI])))
        XCTAssertEqual(byURL.status, 200, byURL.text)
        XCTAssertEqual(byURL.json["choices"] as? [[String: AnyHashable]], byData.json["choices"] as? [[String: AnyHashable]])
        let missing = try await chat(s, chatBody(imageQuestion(question, images: ["http://127.0.0.1:\(port)/missing.png"])))
        assertOpenAIError(missing, status: 400, code: "image_fetch_failed", param: "messages[0].content[0].image_url")
        let local = try await chat(s, chatBody(imageQuestion(question, images: [Embedded.scene.path])))
        assertOpenAIError(local, status: 400, code: "local_files_disabled", param: "messages[0].content[0].image_url")
        let open = try await TestServer.start(sam: false) { $0.images.allowLocalFiles = true }
        let allowed = try await chat(open, chatBody(imageQuestion(question, images: ["file://" + Embedded.scene.path])))
        XCTAssertEqual(allowed.json["choices"] as? [[String: AnyHashable]], byData.json["choices"] as? [[String: AnyHashable]])
        try await open.stop()
        // --no-image-urls: no download is attempted, data URIs still work
        let closed = try await TestServer.start(sam: false) { $0.images.allowURLs = false }
        let refused = try await chat(closed, chatBody(imageQuestion(question, images: ["http://127.0.0.1:\(port)/scene.png"])))
        assertOpenAIError(refused, status: 400, code: "image_urls_disabled", param: "messages[0].content[0].image_url")
        let inline = try await chat(closed, chatBody(imageQuestion(question, images: [Embedded.sceneDataURI])))
        XCTAssertEqual(inline.json["choices"] as? [[String: AnyHashable]], byData.json["choices"] as? [[String: AnyHashable]])
        try await closed.stop()
    }

    // MARK: - Errors

    func testMalformedRequestsAnswer400WithOpenAIErrors() async throws {
        let s = try await server()
        let url = s.base + "/v1/chat/completions"
        assertOpenAIError(try await http("POST", url, raw: Data("{\"messages\": [".utf8)), status: 400, code: "invalid_json")
        assertOpenAIError(try await http("POST", url, json: ["messages": "hi"]), status: 400, code: "invalid_type", param: "messages")
        assertOpenAIError(try await http("POST", url, json: ["max_tokens": 3]), status: 400, code: "missing_required_parameter", param: "messages")
        assertOpenAIError(try await chat(s, chatBody(5)), status: 400, code: "invalid_type", param: "messages[0].content")
        assertOpenAIError(try await chat(s, chatBody("hi", extra: ["temperature": "hot"])), status: 400, code: "invalid_type", param: "temperature")
        assertOpenAIError(try await chat(s, chatBody("hi", extra: ["temperature": 3])), status: 400, code: nil, param: "temperature")
        assertOpenAIError(try await chat(s, chatBody("hi", extra: ["n": 2])), status: 400, code: nil, param: "n")
        assertOpenAIError(try await chat(s, chatBody("hi", maxTokens: 0)), status: 400, code: nil, param: "max_tokens")
        assertOpenAIError(try await chat(s, ["messages": []]), status: 400, code: nil, param: "messages")
        let badImage = imageQuestion("?", images: ["data:image/png;base64,AAAA"])
        assertOpenAIError(try await chat(s, chatBody(badImage)), status: 400, code: "invalid_image", param: "messages[0].content[0].image_url")
        var truncated = try Data(contentsOf: Embedded.scene)
        truncated.count = 200
        let cut = imageQuestion("?", images: ["data:image/png;base64," + truncated.base64EncodedString()])
        assertOpenAIError(try await chat(s, chatBody(cut)), status: 400, code: "invalid_image", param: "messages[0].content[0].image_url")
        assertOpenAIError(try await chat(s, chatBody(imageQuestion("?", images: ["ftp://example.invalid/a.png"]))),
                          status: 400, code: "invalid_image_url", param: "messages[0].content[0].image_url")
        assertOpenAIError(try await chat(s, chatBody("hi", extra: ["model": "gpt-4o"])), status: 404, code: "model_not_found")
        assertOpenAIError(try await http("GET", s.base + "/v1/nothing"), status: 404, code: "unknown_url")
        // nothing above hurt the server
        let ok = try await chat(s, chatBody("hi", maxTokens: 2))
        XCTAssertEqual(ok.status, 200)
    }

    /// A huge claimed size is refused from the PNG header, before decoding.
    func testImageDimensionsAreCheckedBeforeDecoding() async throws {
        var png = try Data(contentsOf: Embedded.scene)
        png.replaceSubrange(16..<24, with: [0, 0, 0x9C, 0x40, 0, 0, 0x9C, 0x40] as [UInt8])   // 40000 × 40000
        let s = try await server()
        let r = try await chat(s, chatBody(imageQuestion("?", images: ["data:image/png;base64," + png.base64EncodedString()])))
        assertOpenAIError(r, status: 400, code: "image_too_large", param: "messages[0].content[0].image_url")
        XCTAssertTrue((r.error["message"] as! String).contains("40000×40000"))
    }

    func testAPIKeyBodyLimitQueueAndTimeout() async throws {
        let s = try await TestServer.start(model: Embedded.randomVLM, sam: false, parallel: 1) {
            $0.apiKey = "sekret"; $0.maxBodyBytes = 4096; $0.maxQueue = 0; $0.requestTimeout = 1
        }
        let url = s.base + "/v1/chat/completions"
        let auth = ["Authorization": "Bearer sekret"]
        assertOpenAIError(try await http("POST", url, json: chatBody("hi")), status: 401, code: "invalid_api_key")
        assertOpenAIError(try await http("POST", url, json: chatBody("hi"), headers: ["Authorization": "Bearer nope!!"]),
                          status: 401, code: "invalid_api_key")
        assertOpenAIError(try await http("GET", s.base + "/v1/models"), status: 401, code: "invalid_api_key")
        let health = try await http("GET", s.base + "/health")
        XCTAssertEqual(health.status, 200, "health needs no key")
        let keyed = try await http("POST", url, json: chatBody("hi", maxTokens: 2), headers: auth)
        XCTAssertEqual(keyed.status, 200)
        let big = chatBody(String(repeating: "x", count: 5000))
        assertOpenAIError(try await http("POST", url, json: big, headers: auth), status: 413, code: "request_too_large")
        // the random model never stops by itself: this stream holds the only slot until the 1 s timeout
        let holder = try RawHTTP(url: url)
        defer { holder.close() }
        try holder.send(method: "POST", body: try JSONSerialization.data(withJSONObject: chatBody("go", maxTokens: 4000, stream: true)), headers: auth)
        let holderStatus = try await blocking { try holder.readHead().status }
        XCTAssertEqual(holderStatus, 200)
        _ = try await blocking { try holder.readChunk() }
        let busy = try await http("POST", url, json: chatBody("hi"), headers: auth)
        assertOpenAIError(busy, status: 429, code: "queue_full", type: "rate_limit_error")
        XCTAssertEqual(busy.headers["retry-after"], "1")
        // the stream ends with the timeout error event, then [DONE]
        let rest = try await blocking { try holder.readRest() }
        let tail = events(String(decoding: rest, as: UTF8.self))
        XCTAssertEqual(tail.last, "[DONE]")
        XCTAssertTrue(tail.dropLast().last?.contains("\"code\":\"timeout\"") ?? false, "\(tail.suffix(2))")
        let timedOut = try await http("POST", url, json: chatBody("go", maxTokens: 4000), headers: auth)
        assertOpenAIError(timedOut, status: 504, code: "timeout", type: "timeout_error")
        try await s.stop()
    }

    /// A client that drops the connection mid-stream has its sequence cancelled and its cache freed.
    func testDisconnectCancelsTheSequence() async throws {
        let s = try await TestServer.start(model: Embedded.randomVLM, sam: false)
        let engine = s.chat!.engine
        let connection = try RawHTTP(url: s.base + "/v1/chat/completions")
        try connection.send(method: "POST", body: try JSONSerialization.data(withJSONObject: chatBody("go", maxTokens: 4000, stream: true)), headers: [:])
        let status = try await blocking { try connection.readHead().status }
        XCTAssertEqual(status, 200)
        _ = try await blocking { try connection.readChunk() }
        _ = try await blocking { try connection.readChunk() }
        // the snapshot is published after the step whose token was streamed, so it may lag a step behind
        for _ in 0..<600 where engine.snapshot.running == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
        XCTAssertEqual(engine.snapshot.running, 1)
        connection.close()
        for _ in 0..<600 where engine.snapshot.running > 0 { try await Task.sleep(nanoseconds: 10_000_000) }
        XCTAssertEqual(engine.snapshot.running, 0)
        XCTAssertLessThan(engine.snapshot.generatedTokens, 4000, "cancelled long before max_tokens")
        let counter = "prism_cancelled_requests_total{reason=\"disconnected\"} 1"
        var metrics = try await http("GET", s.base + "/metrics")
        for _ in 0..<100 where !metrics.text.contains(counter) {
            try await Task.sleep(nanoseconds: 20_000_000)
            metrics = try await http("GET", s.base + "/metrics")
        }
        XCTAssertTrue(metrics.text.contains(counter), metrics.text)
        try await s.stop()
    }

    /// Graceful shutdown (what SIGTERM starts) lets a stream in flight finish, then `run` returns.
    func testShutdownDrainsRequestsInFlight() async throws {
        let s = try await TestServer.start(model: Embedded.randomVLM, sam: false)
        let connection = try RawHTTP(url: s.base + "/v1/chat/completions")
        defer { connection.close() }
        try connection.send(method: "POST", body: try JSONSerialization.data(withJSONObject: chatBody("go", maxTokens: 200, stream: true)), headers: [:])
        let status = try await blocking { try connection.readHead().status }
        XCTAssertEqual(status, 200)
        _ = try await blocking { try connection.readChunk() }
        let stopping = Task { try await s.stop() }
        let rest = try await blocking { try connection.readRest() }
        let data = events(String(decoding: rest, as: UTF8.self))
        XCTAssertEqual(data.last, "[DONE]")
        let finish = data.dropLast().last.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        XCTAssertEqual(((finish?["choices"] as? [[String: Any]])?.first?["finish_reason"]) as? String, "length")
        try await stopping.value
        XCTAssertThrowsError(try RawHTTP(url: s.base + "/health"), "the port is closed")
    }

    func testPortInUseIsAOneLineError() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listen(fd, 1)
        var options = ServeOptions()
        options.port = Int(UInt16(bigEndian: address.sin_port))
        options.logLevel = .critical
        let server = PrismServer(chat: nil, chatName: "", sam: nil, samName: "", options: options)
        do {
            try await server.run(handleSignals: false)
            XCTFail("run returned")
        } catch {
            XCTAssertEqual("\(error)", "cannot listen on 127.0.0.1:\(options.port): Address already in use")
        }
    }

    // MARK: - Segmentation

    func testSegmentReturnsCOCORLEOfThePredictorsMasks() async throws {
        let s = try await server()
        let body: [String: Any] = ["image": Embedded.sceneDataURI, "points": [[215, 262]], "labels": [1], "multimask": true]
        let r = try await http("POST", s.base + "/v1/segment", json: body)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json["embedding_cached"] as? Bool, false)
        let masks = r.json["masks"] as! [[String: Any]]
        XCTAssertEqual(masks.count, 3)
        let predictor = try SamPredictor(directory: Embedded.sam)
        let image = try RGBImage(contentsOf: Embedded.scene)
        let expected = try predictor.masks(predictor.embed(image), points: [SamPoint(x: 215, y: 262)], multimask: true)
        for (i, m) in masks.enumerated() {
            let seg = m["segmentation"] as! [String: Any]
            XCTAssertEqual(seg["size"] as? [Int], [image.height, image.width])
            let rle = try RLE(compressed: seg["counts"] as! String, height: image.height, width: image.width)
            XCTAssertEqual(rle.mask(), expected.mask(i), "mask \(i)")
            XCTAssertEqual(m["area"] as? Int, expected.area(i))
            XCTAssertEqual(m["bbox"] as? [Int], rle.bbox)
            XCTAssertEqual((m["score"] as! NSNumber).floatValue, expected.iouScores[i], accuracy: 1e-6)
        }
        let again = try await http("POST", s.base + "/v1/segment", json: ["image": Embedded.sceneDataURI, "boxes": [[150, 200, 300, 330], [0, 0, 100, 100]], "multimask": false])
        XCTAssertEqual(again.json["embedding_cached"] as? Bool, true, "same bytes: the embedding came from the cache")
        XCTAssertEqual((again.json["masks"] as! [[String: Any]]).map { $0["prompt"] as! Int }, [0, 1], "one mask per box")
        let url = s.base + "/v1/segment"
        assertOpenAIError(try await http("POST", url, json: ["image": Embedded.sceneDataURI]), status: 400, code: nil, param: "points")
        assertOpenAIError(try await http("POST", url, json: ["image": Embedded.sceneDataURI, "points": [[5000, 1]]]), status: 400, code: nil, param: "points")
        assertOpenAIError(try await http("POST", url, json: ["image": Embedded.sceneDataURI, "points": [[1, 1]], "labels": [1, 0]]),
                          status: 400, code: nil, param: "labels")
        assertOpenAIError(try await http("POST", url, json: ["image": "data:image/png;base64,AAAA", "points": [[1, 1]]]),
                          status: 400, code: "invalid_image", param: "image")
    }
}
