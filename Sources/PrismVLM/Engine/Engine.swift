// The one generation engine (ARCHITECTURE "PrismVLM/Engine"): chat, ask, batch and serve all submit requests
// here, so sampling, stopping, caching and batching live in one place.
//
// Each step runs ONE packed, padding-free forward over every admitted sequence (specs/kimi_vl.md §5): one row
// per decoding sequence (its last sampled token) plus a chunk of each prefilling sequence's prompt, all rows
// back to back with cu_seqlens offsets, each segment continuing its own MLA latent cache. New requests join at
// the next step (continuous batching); a long prompt is prefilled `prefillChunk` tokens per step, so it delays
// the running streams by one chunk at most. Finished sequences leave their KV in the prefix cache.
import Foundation
import PrismCore
import PrismIO

public final class GenerationEngine: @unchecked Sendable {
    public let model: KimiVL
    public let options: EngineOptions

    // Shared with submitting threads, under `lock`.
    private let lock = NSCondition()
    private var incoming: [EngineSequence] = []
    private var cancelled: Set<Int> = []
    private var nextID = 0
    private var counters = EngineSnapshot()
    private var stopping = false
    private var clearRequested = false
    private var loopRunning = false
    private var loopDone = DispatchSemaphore(value: 0)

    // Owned by whichever thread runs `step()` (one at a time).
    private var waiting: [EngineSequence] = []
    private var active: [EngineSequence] = []
    private let prefixes: PrefixCache
    /// Tokens sampled during the current step (published with its counters).
    private var sampled = 0

    public init(model: KimiVL, options: EngineOptions = EngineOptions()) {
        precondition(options.maxBatch >= 1 && options.prefillChunk >= 1, "EngineOptions: maxBatch and prefillChunk must be ≥ 1")
        self.model = model
        self.options = options
        prefixes = PrefixCache(kvBytes: options.prefixCacheBytes, visionBytes: options.visionCacheBytes)
    }

    // MARK: - Submitting

    /// Queues a request after validating it (so no step can fail on it) and returns its id for `cancel`.
    /// `onEvent` runs on the stepping thread; returning false from a `.token` event cancels the sequence
    /// (that token is dropped from the output).
    @discardableResult
    public func submit(_ request: GenerationRequest, onEvent: @escaping (GenerationEvent) -> Bool) throws -> Int {
        try validate(request)
        let keys = PositionKey.keys(request.prompt, mediaPadId: model.mediaPadId)
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { throw EngineError.shuttingDown }
        nextID += 1
        let s = EngineSequence(id: nextID, request: request, keys: keys, mediaPadId: model.mediaPadId,
                               contextLimit: model.textConfig.maxPositionEmbeddings, onEvent: onEvent)
        incoming.append(s)
        counters.waiting += 1
        lock.signal()
        return s.id
    }

    /// Cancels a queued or running sequence; its cache is freed at the next step and it finishes `.cancelled`.
    public func cancel(_ id: Int) {
        lock.lock()
        cancelled.insert(id)
        lock.signal()
        lock.unlock()
    }

    /// Runs `request` to completion, streaming each token to `onToken` on the calling thread; returning false
    /// from it stops the answer (`.cancelled`, without that token). Steps the engine itself, or waits for the
    /// background loop when it runs; either way the engine thread never calls `onToken`.
    public func generate(_ request: GenerationRequest, onToken: (Int) -> Bool = { _ in true }) throws -> GenerationResult {
        let inbox = Inbox()
        let id = try submit(request) { inbox.push($0); return true }
        var accepted: [Int] = [], refused = false
        while true {
            lock.lock()
            let background = loopRunning
            lock.unlock()
            if background { inbox.wait() } else if inbox.isEmpty { step() }
            for event in inbox.drain() {
                switch event {
                case .token(let t):
                    guard !refused else { continue }
                    if onToken(t) { accepted.append(t) } else { refused = true; cancel(id) }
                case .finished(var r):
                    if refused { r.tokens = accepted; r.finish = .cancelled; r.usage.completionTokens = accepted.count }
                    return r
                }
            }
        }
    }

    public var snapshot: EngineSnapshot {
        lock.lock()
        defer { lock.unlock() }
        return counters
    }

    func validate(_ r: GenerationRequest) throws {
        let tokens = r.prompt.tokens, cfg = model.textConfig
        guard !tokens.isEmpty else { throw KimiVLError.emptyPrompt(index: 0) }
        if !r.prompt.images.isEmpty && model.vision == nil { throw KimiVLError.noVisionTower(directory: model.directory.path) }
        let pads = tokens.filter { $0 == model.mediaPadId }.count
        let imageTokens = r.prompt.images.reduce(0) { $0 + $1.tokenCount }
        guard pads == imageTokens else { throw KimiVLError.placeholderMismatch(prompt: 0, placeholders: pads, imageTokens: imageTokens) }
        if let bad = tokens.first(where: { $0 != model.mediaPadId && ($0 < 0 || $0 >= cfg.vocabSize) }) {
            throw KimiVLError.tokenOutOfRange(id: bad, vocabulary: cfg.vocabSize)
        }
        guard tokens.count < cfg.maxPositionEmbeddings else {
            throw EngineError.promptTooLong(tokens: tokens.count, limit: cfg.maxPositionEmbeddings)
        }
        guard r.maxTokens >= 1 else { throw EngineError.invalidMaxTokens(r.maxTokens) }
    }

    // MARK: - Background loop (serve)

    /// Steps on a thread of its own whenever there is work, until `shutdown`.
    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard !loopRunning else { return }
        loopRunning = true
        loopDone = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            var more = false, trimDue = false
            while true {
                lock.lock()
                while !more && incoming.isEmpty && cancelled.isEmpty && !clearRequested && !stopping {
                    // Idle for a second after work: the heap's free pages go back to the system. Not at once,
                    // because the server frees the last responses' buffers just after the last step.
                    if trimDue {
                        if !lock.wait(until: Date(timeIntervalSinceNow: 1)) { releaseFreedMemory(); trimDue = false }
                    } else {
                        lock.wait()
                    }
                }
                let exit = stopping && !more && incoming.isEmpty
                lock.unlock()
                if exit { break }
                more = step()
                trimDue = true
            }
            lock.lock(); loopRunning = false; lock.unlock()
            loopDone.signal()
        }
        thread.name = "prism-engine"
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Stops taking requests; with `drain` the running and queued ones finish first, otherwise they are
    /// cancelled. Returns when the loop has exited (at once when it was not started).
    public func shutdown(drain: Bool) {
        lock.lock()
        stopping = true
        if !drain { for s in incoming { cancelled.insert(s.id) }; for s in waiting + active { cancelled.insert(s.id) } }
        let running = loopRunning
        lock.signal()
        lock.unlock()
        if running { loopDone.wait() }
    }

    // MARK: - One step

    /// Admits, encodes images, runs one packed forward and samples. Returns whether work remains.
    @discardableResult
    public func step() -> Bool {
        lock.lock()
        waiting += incoming
        incoming = []
        let cancels = cancelled
        cancelled = []
        let clear = clearRequested
        clearRequested = false
        lock.unlock()
        if clear { prefixes.removeAll() }

        for s in waiting + active where cancels.contains(s.id) { finish(s, .cancelled) }
        active.removeAll { $0.isFinished }
        var held: [EngineSequence] = []
        while active.count < options.maxBatch && !waiting.isEmpty {
            let s = waiting.removeFirst()
            if waitsForSharedPrefill(s) { held.append(s) } else { admit(s) }
        }
        waiting = held + waiting
        encodeImages()
        let batch = forward()
        publish(batch: batch)
        return !waiting.isEmpty || !active.isEmpty
    }

    /// Positions two prompts must share before one waits for the other's prefill (a system prompt and an image).
    static let sharedPrefillMinimum = 16

    /// Whether `s` should wait a step or two: a running sequence is prefilling a longer common prefix than the
    /// prefix cache holds (the same image under another question, say), and admitted now `s` would compute that
    /// prefix a second time. The running one's prompt KV goes to the prefix cache when its prefill completes.
    private func waitsForSharedPrefill(_ s: EngineSequence) -> Bool {
        guard prefixes.kvBudget > 0 else { return false }
        let limit = s.keys.count - 1
        let cached = prefixes.cachedLength(s.keys, limit: limit)
        return active.contains { t in
            t.next == nil && !t.isFinished && t.prefilled < t.keys.count
                && commonPrefix(s.keys, t.keys, limit: limit) >= max(cached + 1, Self.sharedPrefillMinimum)
        }
    }

    /// A copy of `s`'s freshly prefilled prompt KV into the prefix cache, when a waiting sequence shares it.
    private func sharePrefill(_ s: EngineSequence) {
        guard prefixes.kvBudget > 0, let cache = s.cache,
              waiting.contains(where: { commonPrefix($0.keys, s.cacheKeys) >= Self.sharedPrefillMinimum }) else { return }
        prefixes.insert(s.cacheKeys, cache: KVCache(prefixOf: cache, count: cache.count))
    }

    /// Moves a sequence into the running batch, continuing from the longest cached prefix of its prompt.
    private func admit(_ s: EngineSequence) {
        let n = s.request.prompt.tokens.count
        // at least one prompt token must run, to produce the first logits
        s.cache = prefixes.lookup(s.keys, limit: n - 1) ?? model.newCache()
        s.prefilled = s.cache.count
        s.cacheKeys = Array(s.keys[..<s.prefilled])
        s.usage.cachedTokens = s.prefilled
        s.admitted = DispatchTime.now().uptimeNanoseconds
        s.usage.queueSeconds = seconds(s.submitted, s.admitted)
        active.append(s)
    }

    /// Builds the prompt embeddings of sequences that lack them: image embeddings from the cache, the rest from one
    /// packed vision pass over every missing image of the step (at most `visionPatchesPerStep` patches, always at
    /// least one sequence's images). One pass over many images runs a few large products instead of many small
    /// ones (`ask --batch` brings an image per row).
    private func encodeImages() {
        enum Source { case cached(Tensor), encoded(Int) }
        var ready: [(seq: EngineSequence, needed: [Int], sources: [Source], encodes: Int)] = []
        var images: [ProcessedImage] = []
        var planned: [ContentDigest: Int] = [:]
        var patches = 0
        for s in active where s.pending == nil && s.next == nil {
            let needed = s.neededImages
            var sources: [Source] = [], added: [ProcessedImage] = [], addedDigests: [ContentDigest: Int] = [:]
            for i in needed {
                let img = s.request.prompt.images[i]
                if let d = img.digest {
                    // held here: storing the step's new embeddings may evict it from the cache
                    if let e = prefixes.embedding(d) { sources.append(.cached(e)); continue }
                    if let k = planned[d] ?? addedDigests[d] { sources.append(.encoded(k)); continue }
                    addedDigests[d] = images.count + added.count
                }
                sources.append(.encoded(images.count + added.count))
                added.append(img)
            }
            let cost = added.reduce(0) { $0 + $1.patches }
            if cost > 0 && patches > 0 && patches + cost > options.visionPatchesPerStep { continue }
            patches += cost
            images += added
            planned.merge(addedDigests) { first, _ in first }
            ready.append((s, needed, sources, added.count))
        }
        let encoded = encode(images)
        for (s, needed, sources, encodes) in ready {
            do {
                let embeddings = try sources.map { source -> Tensor in
                    switch source {
                    case .cached(let e): return e
                    case .encoded(let k): return try encoded[k].get()
                    }
                }
                s.usage.imagesEncoded = encodes
                s.pending = try s.remainingEmbeddings(imageEmbeddings: embeddings, needed: needed, model: model)
            } catch {
                finish(s, .failed("\(error)"))
            }
        }
        active.removeAll { $0.isFinished }
    }

    /// Embeddings of `images` from one packed vision pass, each stored in the vision cache. If the pass fails, each
    /// image alone, so that a bad image fails only the sequences that show it.
    private func encode(_ images: [ProcessedImage]) -> [Result<Tensor, Error>] {
        guard !images.isEmpty else { return [] }
        func stored(_ e: Tensor, _ img: ProcessedImage) -> Tensor {
            if let d = img.digest { prefixes.store(e, for: d) }
            return e
        }
        func pass(_ images: [ProcessedImage]) throws -> Tensor {
            lock.lock(); counters.visionPasses += 1; lock.unlock()
            return try model.imageEmbeddings(images)
        }
        if images.count > 1, let all = try? pass(images) {
            var row = 0
            return images.map { img in
                defer { row += img.tokenCount }
                return .success(stored(all.slice(rows: row..<(row + img.tokenCount)), img))
            }
        }
        return images.map { img in Result { stored(try pass([img]), img) } }
    }

    /// One packed forward: a row per decoding sequence, then prompt chunks within the prefill budget.
    private func forward() -> (sequences: Int, tokens: Int) {
        var segments: [(seq: EngineSequence, rows: Int, logits: Bool)] = []
        var parts: [Tensor] = []
        let decoding = active.filter { $0.next != nil }
        segments += decoding.map { ($0, 1, true) }
        var budget = options.prefillChunk
        for s in active where s.next == nil && budget > 0 {
            guard let pending = s.pending else { continue }
            let remaining = s.request.prompt.tokens.count - s.prefilled
            let n = min(remaining, budget)
            budget -= n
            let offset = pending.rows - remaining
            parts.append(n == pending.rows ? pending : pending.slice(rows: offset..<(offset + n)))
            segments.append((s, n, n == remaining))
        }
        guard !segments.isEmpty else { return (0, 0) }

        let logits: Tensor
        if segments.count == decoding.count {
            // nothing prefills this step: the decoder picks how to spread the tokens over the cores
            logits = model.decoder.decodeLogits(decoding.map { $0.next! }, caches: decoding.map(\.cache))
        } else {
            if !decoding.isEmpty { parts.insert(model.decoder.embed(decoding.map { $0.next! }), at: 0) }
            let hidden = model.decoder.forward(Tensor.concatenate(rows: parts), lengths: segments.map(\.rows),
                                               caches: segments.map { $0.seq.cache })
            var lastRows: [Int] = []
            var row = 0
            for seg in segments {
                row += seg.rows
                if seg.logits { lastRows.append(row - 1) }
            }
            // logits only for rows that sample: decode rows and the last row of a finished prompt
            logits = lastRows.isEmpty ? Tensor(zeros: [0, 1])
                : model.decoder.logits(Tensor.concatenate(rows: lastRows.map { hidden.slice(rows: $0..<($0 + 1)) }))
        }
        let v = logits.lastDim
        var k = 0
        for seg in segments {
            let s = seg.seq
            if let t = s.next {
                s.cacheKeys.append(.token(t))
            } else {
                s.cacheKeys += s.keys[s.prefilled..<(s.prefilled + seg.rows)]
                s.prefilled += seg.rows
                if seg.logits { s.pending = nil; sharePrefill(s) }
            }
            guard seg.logits else { continue }
            sample(s, logits: Array(logits.data[(k * v)..<((k + 1) * v)]))
            k += 1
        }
        active.removeAll { $0.isFinished }
        return (segments.count, segments.reduce(0) { $0 + $1.rows })
    }

    private func sample(_ s: EngineSequence, logits: [Float]) {
        let token = s.sampler.sample(logits: logits, history: s.history)
        if s.output.isEmpty && s.firstToken == 0 {
            s.firstToken = DispatchTime.now().uptimeNanoseconds
            s.usage.prefillSeconds = seconds(s.admitted, s.firstToken)
            s.usage.timeToFirstToken = seconds(s.submitted, s.firstToken)
        }
        if s.request.stopTokens.contains(token) { return finish(s, .stop(token: token)) }
        // a refused token is not part of the answer
        guard s.onEvent(.token(token)) else { return finish(s, .cancelled) }
        s.output.append(token)
        s.history.append(token)
        sampled += 1
        if s.output.count >= s.budget { return finish(s, .length) }
        s.next = token
    }

    /// Ends a sequence: reports it, and hands its cache to the prefix cache (or drops it).
    private func finish(_ s: EngineSequence, _ reason: FinishReason) {
        guard !s.isFinished else { return }
        s.isFinished = true
        let now = DispatchTime.now().uptimeNanoseconds
        if s.firstToken > 0 { s.usage.decodeSeconds = seconds(s.firstToken, now) }
        s.usage.completionTokens = s.output.count
        if let cache = s.cache, !isFailure(reason) { prefixes.insert(s.cacheKeys, cache: cache) }
        s.cache = nil
        s.pending = nil
        waiting.removeAll { $0 === s }
        lock.lock()
        counters.prefilledTokens += s.prefilled - s.usage.cachedTokens
        counters.cachedPromptTokens += s.usage.cachedTokens
        counters.imagesEncoded += s.usage.imagesEncoded
        lock.unlock()
        _ = s.onEvent(.finished(GenerationResult(tokens: s.output, finish: reason, usage: s.usage)))
    }

    private func isFailure(_ r: FinishReason) -> Bool { if case .failed = r { return true } else { return false } }

    private func publish(batch: (sequences: Int, tokens: Int)) {
        lock.lock()
        counters.steps += 1
        counters.generatedTokens += sampled
        sampled = 0
        if batch.sequences > 0 { counters.lastBatchSequences = batch.sequences; counters.lastBatchTokens = batch.tokens }
        counters.waiting = waiting.count + incoming.count
        counters.running = active.count
        counters.liveCaches = active.filter { $0.cache != nil }.count + prefixes.entries.count
        counters.prefixCacheBytes = prefixes.kvBytes
        counters.visionCacheBytes = prefixes.visionBytes
        lock.unlock()
    }

    /// Empties the prefix and image caches at the start of the next step (tests; a server could on memory pressure).
    public func clearCaches() {
        lock.lock()
        clearRequested = true
        lock.signal()
        lock.unlock()
    }
}

/// Events of one sequence handed from the stepping thread to a waiting caller.
final class Inbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var events: [GenerationEvent] = []

    func push(_ e: GenerationEvent) { condition.lock(); events.append(e); condition.signal(); condition.unlock() }
    func wait() { condition.lock(); while events.isEmpty { condition.wait() }; condition.unlock() }
    var isEmpty: Bool { condition.lock(); defer { condition.unlock() }; return events.isEmpty }
    func drain() -> [GenerationEvent] {
        condition.lock(); defer { condition.unlock() }
        let out = events
        events = []
        return out
    }
}

struct EngineFault: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func seconds(_ from: UInt64, _ to: UInt64) -> Double { to > from ? Double(to - from) / 1e9 : 0 }
