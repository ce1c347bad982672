import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
@testable import PrismVLM
import XCTest

/// The generation engine against the plain prefill/decode path on the tiny random checkpoint
/// (`Tools/make_random_checkpoint.py --preset tiny`, vision tower included).
final class EngineTests: XCTestCase {
    static let model = try! KimiVL.load(directory: fixtureURL("random_tiny"))
    var m: KimiVL { Self.model }

    func image(_ seed: Int, width: Int = 60, height: Int = 40) throws -> ProcessedImage {
        let pixels = (0..<(width * height * 3)).map { UInt8(($0 * 7 + seed * 31) % 256) }
        var p = try m.imageProcessor(RGBImage(width: width, height: height, pixels: pixels))
        p.digest = ContentDigest(of: Data(pixels))
        return p
    }

    func prompt(_ head: [Int], _ images: [ProcessedImage] = [], _ tail: [Int] = [3, 4]) -> Prompt {
        Prompt(tokens: head + images.flatMap { [5] + Array(repeating: m.mediaPadId, count: $0.tokenCount) + [6] } + tail,
               images: images)
    }

    /// What the engine replaces: one full prefill, then one decode per token (greedy or seeded sampling).
    func sequential(_ p: Prompt, _ params: SamplingParameters = .greedy, maxTokens: Int, stop: Set<Int> = []) throws -> [Int] {
        let cache = m.newCache()
        var sampler = Sampler(params)
        var logits = try m.prefill(p, cache: cache)
        var history = p.tokens.filter { $0 != m.mediaPadId }, out: [Int] = []
        while out.count < maxTokens {
            let next = sampler.sample(logits: logits, history: history)
            if stop.contains(next) { break }
            out.append(next); history.append(next)
            if out.count == maxTokens { break }
            logits = try m.decode(token: next, cache: cache)
        }
        return out
    }

    func engine(_ options: EngineOptions = EngineOptions()) -> GenerationEngine { GenerationEngine(model: m, options: options) }
    let noCache = EngineOptions(prefixCacheBytes: 0, visionCacheBytes: 0)

    /// Submits all requests at once and steps until every one finished; returns results in request order and
    /// the largest packed batch seen.
    func runTogether(_ e: GenerationEngine, _ requests: [GenerationRequest]) throws -> (results: [GenerationResult], widest: Int) {
        var results = [GenerationResult?](repeating: nil, count: requests.count)
        for (i, r) in requests.enumerated() {
            try e.submit(r) { if case .finished(let x) = $0 { results[i] = x }; return true }
        }
        var widest = 0
        while e.step() { widest = max(widest, e.snapshot.lastBatchSequences) }
        return (results.map { $0! }, widest)
    }

    // MARK: - Equal to the sequential path

    func testSingleSequenceEqualsSequentialPathTokenForToken() throws {
        let p = prompt([1, 2], [try image(0)], [7, 8, 9])
        let greedy = try engine(noCache).generate(GenerationRequest(prompt: p, maxTokens: 12))
        XCTAssertEqual(greedy.tokens, try sequential(p, maxTokens: 12))
        XCTAssertEqual(greedy.finish, .length)
        XCTAssertEqual(greedy.usage.promptTokens, p.tokens.count)
        XCTAssertEqual(greedy.usage.imagesEncoded, 1)
        let params = SamplingParameters(temperature: 0.9, topP: 0.95, topK: 40, repetitionPenalty: 1.1, seed: 7)
        let sampled = try engine(noCache).generate(GenerationRequest(prompt: p, sampling: params, maxTokens: 12))
        XCTAssertEqual(sampled.tokens, try sequential(p, params, maxTokens: 12))
        XCTAssertNotEqual(sampled.tokens, greedy.tokens, "the seeded draw differs from greedy")
    }

    /// N requests packed into every step (mixed prefill and decode, images and text, different lengths and
    /// budgets) give exactly what N separate runs give.
    func testPackedBatchOfNEqualsNSeparateRuns() throws {
        let img0 = try image(1), img1 = try image(2, width: 30, height: 50)
        let requests = [
            GenerationRequest(prompt: prompt([1, 2], [img0]), maxTokens: 9),
            GenerationRequest(prompt: prompt([9, 8, 7, 6, 5, 4, 3]), maxTokens: 6),
            GenerationRequest(prompt: prompt([11], [img1, img0], [12, 13, 14]), maxTokens: 11),
            GenerationRequest(prompt: prompt([20, 21, 22]), sampling: SamplingParameters(temperature: 0.8, seed: 3), maxTokens: 7),
        ]
        let (together, widest) = try runTogether(engine(noCache), requests)
        XCTAssertEqual(widest, 4, "all four ran in one packed forward")
        for (i, r) in requests.enumerated() {
            let alone = try engine(noCache).generate(r)
            XCTAssertEqual(together[i].tokens, alone.tokens, "request \(i)")
            XCTAssertEqual(together[i].tokens.count, r.maxTokens)
        }
    }

    func testChunkedPrefillEqualsUnchunked() throws {
        let p = prompt([1, 2, 3], [try image(4)], Array(10..<40))
        let whole = try engine(noCache).generate(GenerationRequest(prompt: p, maxTokens: 10))
        var small = noCache
        small.prefillChunk = 7
        let chunked = try engine(small).generate(GenerationRequest(prompt: p, maxTokens: 10))
        XCTAssertEqual(chunked.tokens, whole.tokens)
        XCTAssertGreaterThan(p.tokens.count, 7 * 3)
    }

    /// While a long prompt is prefilled chunk by chunk, a running stream still gets one token every step.
    func testLongPromptNeverStallsARunningStreamMoreThanOneChunk() throws {
        var options = noCache
        options.prefillChunk = 8
        let e = engine(options)
        var streamSteps: [Int] = []
        var step = 0
        try e.submit(GenerationRequest(prompt: prompt([1, 2, 3]), maxTokens: 20)) {
            if case .token = $0 { streamSteps.append(step) }
            return true
        }
        step += 1; e.step()                         // prefill (5 tokens) → first token
        XCTAssertEqual(streamSteps, [1])
        let long = prompt([9], [try image(5)], Array(20..<60))
        var firstTokenStep = 0
        try e.submit(GenerationRequest(prompt: long, maxTokens: 2)) {
            if case .token = $0, firstTokenStep == 0 { firstTokenStep = step }
            return true
        }
        while firstTokenStep == 0 { step += 1; e.step(); XCTAssertLessThanOrEqual(e.snapshot.lastBatchTokens, 1 + 8) }
        let chunks = (long.tokens.count + 7) / 8
        XCTAssertEqual(firstTokenStep, 1 + chunks, "the long prompt took one step per chunk")
        XCTAssertEqual(streamSteps, Array(1...(1 + chunks)), "the stream got a token in every one of those steps")
    }

    // MARK: - Stopping

    func testStopTokenMaxTokensAndContextLimit() throws {
        let p = prompt([1, 2], [try image(6)])
        let free = try engine(noCache).generate(GenerationRequest(prompt: p, maxTokens: 8))
        let stopAt = free.tokens[3]
        let firstIndex = free.tokens.firstIndex(of: stopAt)!
        let stopped = try engine(noCache).generate(GenerationRequest(prompt: p, maxTokens: 8, stopTokens: [stopAt]))
        XCTAssertEqual(stopped.tokens, Array(free.tokens[..<firstIndex]))
        XCTAssertEqual(stopped.finish, .stop(token: stopAt))
        // the context (max_position_embeddings, 40 in a copy of the checkpoint) caps the answer below max tokens
        let short = try Self.modelWithContext(40)
        let capped = try GenerationEngine(model: short, options: noCache)
            .generate(GenerationRequest(prompt: Prompt(tokens: Array(1...37)), maxTokens: 50))
        XCTAssertEqual(capped.tokens.count, 3)
        XCTAssertEqual(capped.finish, .length)
        assertThrowsMessage("the prompt has 40 tokens but the model's context holds 40 (one more is needed to answer)") {
            try GenerationEngine(model: short).submit(GenerationRequest(prompt: Prompt(tokens: Array(1...40)), maxTokens: 1)) { _ in true }
        }
    }

    /// The fixture checkpoint with `text_config.max_position_embeddings` set to `n`.
    static func modelWithContext(_ n: Int) throws -> KimiVL {
        let dir = temporaryDirectory()
        let source = fixtureURL("random_tiny")
        for f in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let url = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var text = config["text_config"] as! [String: Any]
        text["max_position_embeddings"] = n
        config["text_config"] = text
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        return try KimiVL.load(directory: dir)
    }

    func testInvalidRequestsAreRejectedAtSubmission() throws {
        let e = engine()
        let img = try image(0)
        assertThrowsMessage("prompt 0: 3 <|media_pad|> tokens but its images produce \(img.tokenCount) image tokens (they must be equal)") {
            try e.submit(GenerationRequest(prompt: Prompt(tokens: [1] + Array(repeating: m.mediaPadId, count: 3), images: [img]), maxTokens: 1)) { _ in true }
        }
        assertThrowsMessage("token id 999 is outside the vocabulary (0..<256)") {
            try e.submit(GenerationRequest(prompt: Prompt(tokens: [1, 999]), maxTokens: 1)) { _ in true }
        }
        assertThrowsMessage("max tokens must be at least 1 (got 0)") {
            try e.submit(GenerationRequest(prompt: Prompt(tokens: [1]), maxTokens: 0)) { _ in true }
        }
        assertThrowsMessage("prompt 0 has no tokens") { try e.submit(GenerationRequest(prompt: Prompt(tokens: []), maxTokens: 1)) { _ in true } }
        XCTAssertEqual(e.snapshot.waiting, 0)
    }

    // MARK: - Cancellation

    func testCancellationFreesTheCacheAtTheNextStep() throws {
        var options = noCache
        options.maxBatch = 2
        let e = engine(options)
        var finishes: [Int: FinishReason] = [:], tokens: [Int: Int] = [:]
        func submit(_ i: Int) throws -> Int {
            try e.submit(GenerationRequest(prompt: prompt([1 + i, 2]), maxTokens: 30)) {
                switch $0 {
                case .token: tokens[i, default: 0] += 1
                case .finished(let r): finishes[i] = r.finish
                }
                return true
            }
        }
        let a = try submit(0), b = try submit(1), queued = try submit(2)
        e.step(); e.step()
        XCTAssertEqual(e.snapshot.running, 2)
        XCTAssertEqual(e.snapshot.waiting, 1)
        XCTAssertEqual(e.snapshot.liveCaches, 2)
        e.cancel(a)
        e.cancel(queued)
        XCTAssertNil(finishes[0], "nothing happens before the next step")
        e.step()
        XCTAssertEqual(finishes[0], .cancelled)
        XCTAssertEqual(finishes[2], .cancelled)
        XCTAssertNil(tokens[2], "the queued request never ran")
        XCTAssertEqual(tokens[0], 2)
        XCTAssertEqual(e.snapshot.running, 1)
        XCTAssertEqual(e.snapshot.liveCaches, 1, "the cancelled sequence's cache is gone")
        e.cancel(b)
        e.step()
        XCTAssertEqual(e.snapshot.liveCaches, 0)
        XCTAssertFalse(e.step())
        // a callback that refuses a token stops its sequence too, without that token
        var seen: [Int] = []
        let r = try engine(noCache).generate(GenerationRequest(prompt: prompt([4]), maxTokens: 10)) { seen.append($0); return seen.count < 3 }
        XCTAssertEqual(r.finish, .cancelled)
        XCTAssertEqual(r.tokens, Array(seen.prefix(2)))
    }

    // MARK: - Prefix cache

    func testPrefixCacheReusesImageAndKVAcrossRequests() throws {
        let e = engine()
        let img = try image(8)
        let first = GenerationRequest(prompt: prompt([1, 2], [img], [3, 4]), maxTokens: 6)
        let a = try e.generate(first)
        XCTAssertEqual(a.usage.cachedTokens, 0)
        XCTAssertEqual(a.usage.imagesEncoded, 1)
        // the same request again: everything but the last prompt token comes from the cache
        let b = try e.generate(first)
        XCTAssertEqual(b.tokens, a.tokens)
        XCTAssertEqual(b.usage.cachedTokens, first.prompt.tokens.count - 1)
        XCTAssertEqual(b.usage.imagesEncoded, 0)
        // a continuation of the first answer (a chat's next turn) reuses prompt + answer
        let next = Prompt(tokens: first.prompt.tokens + a.tokens + [7, 8], images: [img])
        let c = try e.generate(GenerationRequest(prompt: next, maxTokens: 4))
        XCTAssertEqual(c.usage.cachedTokens, first.prompt.tokens.count + a.tokens.count - 1)
        XCTAssertEqual(c.tokens, try engine(noCache).generate(GenerationRequest(prompt: next, maxTokens: 4)).tokens)
        // a different prefix with the same image: KV from the start is not reusable, the embedding is
        let other = GenerationRequest(prompt: prompt([9], [img], [3, 4]), maxTokens: 4)
        let d = try e.generate(other)
        XCTAssertEqual(d.usage.cachedTokens, 0)
        XCTAssertEqual(d.usage.imagesEncoded, 0)
        XCTAssertEqual(d.tokens, try engine(noCache).generate(other).tokens)
        // the same pixels under a different digest (other bytes) do not hit
        var renamed = img
        renamed.digest = ContentDigest(of: Data("other bytes".utf8))
        let f = try e.generate(GenerationRequest(prompt: prompt([1, 2], [renamed], [3, 4]), maxTokens: 2))
        XCTAssertEqual(f.usage.cachedTokens, 3, "only the text before the image")
        XCTAssertEqual(f.usage.imagesEncoded, 1)
    }

    /// Requests with images submitted together: the step's images (one shown twice) go through the vision tower
    /// in one packed pass, each image once, and every answer equals the request alone. A budget of fewer patches
    /// than two images hold splits the pass, one sequence's images at a time.
    func testImagesOfAStepShareOneVisionPass() throws {
        let a = try image(20), b = try image(21, width: 90, height: 60), c = try image(22, width: 40, height: 70)
        let requests = [prompt([1], [a]), prompt([2], [b, c], [7]), prompt([3], [a], [8, 9]), prompt([4, 5])]
            .map { GenerationRequest(prompt: $0, maxTokens: 5) }
        let alone = try requests.map { try sequential($0.prompt, maxTokens: 5) }
        let e = engine(noCache)
        let (results, _) = try runTogether(e, requests)
        XCTAssertEqual(results.map(\.tokens), alone)
        XCTAssertEqual(e.snapshot.visionPasses, 1)
        XCTAssertEqual(e.snapshot.imagesEncoded, 3, "the image shown twice is encoded once")
        XCTAssertEqual(results.map(\.usage.imagesEncoded), [1, 2, 0, 0])

        var small = noCache
        small.visionPatchesPerStep = a.patches
        let split = engine(small)
        XCTAssertEqual(try runTogether(split, requests).results.map(\.tokens), alone)
        XCTAssertEqual(split.snapshot.visionPasses, 2)
        XCTAssertEqual(split.snapshot.imagesEncoded, 3)
    }

    /// A cache kept for reuse holds its rows and not the spare capacity decoding's appends left behind, so what the
    /// prefix cache reports is what it holds.
    func testPrefixCacheKeepsNoSpareCapacity() {
        let cache = m.newCache(), layers = m.textConfig.numHiddenLayers, tokens = 37
        for t in 0..<tokens {
            let row = (0..<cache.width).map { Float(t * cache.width + $0) }
            for l in 0..<layers { row.withUnsafeBufferPointer { cache.append(layer: l, rows: $0) } }
            cache.commit(1)
        }
        let rows = Array(cache.rows(layer: layers - 1))
        XCTAssertGreaterThan(cache.reservedBytes, cache.byteCount + 1024, "appends one row at a time leave spare capacity")
        let prefixes = PrefixCache(kvBytes: 1 << 30, visionBytes: 0)
        prefixes.insert((0..<tokens).map { .token($0) }, cache: cache)
        XCTAssertEqual(prefixes.kvBytes, tokens * cache.width * layers * 4)
        let kept = prefixes.entries.first!.cache
        // the allocator may round each layer's block up to its size class
        XCTAssertLessThanOrEqual(kept.reservedBytes, kept.byteCount + 64 * layers)
        XCTAssertEqual(Array(kept.rows(layer: layers - 1)), rows)
    }

    /// Questions about one image submitted together: the later ones wait for the first one's prefill and continue
    /// from its prompt KV instead of computing the shared prefix (system text + image) again; the answers are what
    /// each request gives alone, and a request with nothing to share is not held back.
    func testRequestsSharingAPrefixPrefillItOnce() throws {
        let img = try image(10, width: 90, height: 60)
        let shared = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
        let requests = [prompt(shared, [img], [20, 21]), prompt(shared, [img], [22, 23, 24]), prompt([30, 31], [try image(11)], [25]),
                        prompt(shared, [img], [26])].map { GenerationRequest(prompt: $0, maxTokens: 5) }
        let prefix = shared.count + 1 + img.tokenCount + 1
        XCTAssertGreaterThanOrEqual(prefix, GenerationEngine.sharedPrefillMinimum)
        let e = engine()
        var results = [GenerationResult?](repeating: nil, count: requests.count)
        for (i, r) in requests.enumerated() {
            try e.submit(r) { if case .finished(let x) = $0 { results[i] = x }; return true }
        }
        e.step()
        XCTAssertEqual(e.snapshot.running, 2, "the first request and the unrelated one run; the two siblings wait")
        XCTAssertEqual(e.snapshot.waiting, 2)
        while e.step() {}
        XCTAssertEqual(results[0]!.usage.cachedTokens, 0)
        XCTAssertEqual(results[1]!.usage.cachedTokens, prefix)
        XCTAssertEqual(results[3]!.usage.cachedTokens, prefix)
        XCTAssertEqual(results[2]!.usage.cachedTokens, 0)
        XCTAssertEqual(results.map { $0!.usage.imagesEncoded }.reduce(0, +), 2, "each image through the vision tower once")
        for (i, r) in requests.enumerated() {
            XCTAssertEqual(results[i]!.tokens, try engine(noCache).generate(r).tokens, "request \(i)")
        }
        // without a prefix cache nothing can be shared, so nothing waits
        let plain = engine(noCache)
        for r in requests { _ = try plain.submit(r) { _ in true } }
        plain.step()
        XCTAssertEqual(plain.snapshot.running, 4)
    }

    /// A request cancelled in the middle of an image's prefill leaves a prefix that ends inside the image; the
    /// next identical request continues from it with the rest of that image's rows from the embedding cache.
    func testPrefixEndingInsideAnImageUsesTheRestOfItsEmbedding() throws {
        var options = EngineOptions()
        options.prefillChunk = 4
        let e = engine(options)
        let img = try image(9, width: 120, height: 80)
        XCTAssertGreaterThan(img.tokenCount, 6)
        let request = GenerationRequest(prompt: prompt([1, 2], [img], [3, 4]), maxTokens: 5)
        let id = try e.submit(request) { _ in true }
        e.step(); e.step()                          // 8 prompt tokens: 2 text, the image start, 5 image rows
        e.cancel(id)
        e.step()
        let r = try e.generate(request)
        XCTAssertEqual(r.usage.cachedTokens, 8)
        XCTAssertEqual(r.usage.imagesEncoded, 0)
        XCTAssertEqual(r.usage.imageTokens, img.tokenCount - 5)
        XCTAssertEqual(r.tokens, try engine(noCache).generate(request).tokens)
    }

    // MARK: - Background loop

    /// Requests from several threads while the engine steps on its own thread; a draining shutdown lets the
    /// running ones finish and refuses new ones.
    func testBackgroundLoopServesConcurrentSubmittersAndDrains() throws {
        let e = engine(noCache)
        let requests = (0..<6).map { GenerationRequest(prompt: prompt([1 + $0, 2 + $0]), maxTokens: 5 + $0) }
        let expected = try requests.map { try engine(noCache).generate($0).tokens }
        e.start()
        var got = [[Int]](repeating: [], count: requests.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: requests.count) { i in
            let r = try! e.generate(requests[i])
            lock.lock(); got[i] = r.tokens; lock.unlock()
        }
        XCTAssertEqual(got, expected)
        let done = DispatchSemaphore(value: 0)
        var drained: FinishReason?
        try e.submit(GenerationRequest(prompt: prompt([5]), maxTokens: 40)) {
            if case .finished(let r) = $0 { drained = r.finish; done.signal() }
            return true
        }
        e.shutdown(drain: true)
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(drained, .length)
        assertThrowsMessage("the engine is shutting down and takes no new requests") {
            try e.submit(GenerationRequest(prompt: prompt([5]), maxTokens: 1)) { _ in true }
        }
    }
}
