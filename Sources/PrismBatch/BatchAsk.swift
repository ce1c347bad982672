// `prism ask --batch`: one question per input row, answered by the one generation engine.
//
// Rows are submitted to the engine as they are read, up to `inFlight` unfinished at a time, and the engine is
// stepped by this thread: each step packs every running sequence's next token and the new rows' prompts into
// one padding-free forward (the engine's continuous batching), so there is no generation loop here. Answers are
// written in record order with their finish reason and token counts (never timings or cache hits, which
// depend on what else ran: a row's output is the same in any shard, batch or run).
import Foundation
import PrismChat
import PrismData
import PrismIO
import PrismTokenizer
import PrismVLM

public struct BatchAskOptions: Sendable {
    /// Column of image paths (JSONL) or encoded images (TFRecord); a row may have several or none.
    public var imageKey: String
    /// Column of each row's question; nil: `prompt` for every row.
    public var questionKey: String?
    /// The question for every row (when `questionKey` is nil).
    public var prompt: String?
    /// Column copied into each output row as "id".
    public var idKey: String?
    public var system: String?
    public var settings = ChatSettings()
    /// Rows submitted and not yet finished (the engine runs `EngineOptions.maxBatch` of them at once).
    public var inFlight = 32
    public var badRows = BadRowPolicy.row

    public init(imageKey: String, questionKey: String? = nil, prompt: String? = nil, idKey: String? = nil) {
        self.imageKey = imageKey; self.questionKey = questionKey; self.prompt = prompt; self.idKey = idKey
    }
}

public final class BatchAsker {
    public let chat: KimiVLEngine
    public let options: BatchAskOptions
    /// The last few rows' preprocessed images by content digest: datasets often ask several questions about one
    /// image, and decoding, resizing and normalising it again took about 7 % of `ask --batch` (perf, 1,000 questions
    /// about 250 images). The engine keys its vision and prefix caches by the same digest.
    private var recentImages = RecentByDigest<ProcessedImage>(limit: 8)
    /// Images decoded and preprocessed so far (the rest came from `recentImages`).
    private(set) var imagesPreprocessed = 0

    public init(chat: KimiVLEngine, options: BatchAskOptions) {
        precondition((options.questionKey == nil) != (options.prompt == nil), "BatchAskOptions: a question key or a prompt")
        precondition(options.inFlight >= 1, "BatchAskOptions.inFlight must be ≥ 1")
        self.chat = chat
        self.options = options
    }

    /// Answers every row of `input` not yet in `output` and finishes the output. Returns this run's counts.
    @discardableResult
    public func run(_ input: BatchInput, into output: BatchOutput,
                    onProgress: ((BatchProgress) -> Void)? = nil) throws -> BatchProgress {
        let rows = OrderedRows(output: output, policy: options.badRows, onProgress: onProgress)
        guard !output.alreadyComplete else { return rows.progress }
        let engine = chat.engine
        let finished = Finished()
        var running = 0

        /// Steps until at most `limit` rows are unfinished, writing the rows that become next in order.
        func step(until limit: Int) throws {
            while running > limit {
                let more = engine.step()
                precondition(more || finished.count > 0, "BatchAsker: \(running) rows unfinished but the engine is idle")
                for (record, id, result, imageTokens) in finished.take() {
                    running -= 1
                    if case .failed(let message) = result.finish {
                        try rows.failed(record, id: id, "record \(record): generation failed: \(message)")
                        continue
                    }
                    let answer = chat.answerText(result.tokens)
                    rows.done(record, id: id,
                              "\"answer\":\(jsonQuoted(answer)),\"finish_reason\":\"\(Self.reason(result.finish))\"," +
                              "\"prompt_tokens\":\(result.usage.promptTokens),\"image_tokens\":\(imageTokens)," +
                              "\"completion_tokens\":\(result.tokens.count)", outputs: result.tokens.count)
                }
                try rows.write()
            }
        }

        try input.forEach(from: output.next) { record, fields in
            var id: String?
            do {
                let row = try fields.get()
                id = try OrderedRows.id(of: row, key: options.idKey)
                let request = try self.request(row)
                let imageTokens = request.prompt.images.reduce(0) { $0 + $1.tokenCount }
                try engine.submit(request) { [id] event in
                    if case .finished(let result) = event { finished.add((record, id, result, imageTokens)) }
                    return true
                }
                running += 1
            } catch {
                // under .stop, the rows before this one are finished and written first
                if options.badRows == .stop { try step(until: 0) }
                try rows.failed(record, id: id, Self.message(error, record: record))
            }
            try step(until: options.inFlight - 1)
        }
        try step(until: 0)
        try rows.write()
        try output.finish()
        return rows.progress
    }

    /// The engine request for one row: its images (in column order), then the question.
    func request(_ row: RowFields) throws -> GenerationRequest {
        let question: String
        if let key = options.questionKey {
            guard let q = try row.text(key) else { throw RowFieldError(location: row.location, key: key, message: "missing (the --question-key column)") }
            question = q
        } else {
            question = options.prompt!
        }
        guard !question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RowFieldError(location: row.location, key: options.questionKey, message: "the question is empty")
        }
        guard let sources = try row.images(options.imageKey) else {
            throw RowFieldError(location: row.location, key: options.imageKey, message: "missing (the --image-key column)")
        }
        let images = try sources.map { source -> ProcessedImage in
            do {
                switch source {
                case .file(let path):
                    // unreadable: preprocess(imageAt:) says why
                    guard let data = FileManager.default.contents(atPath: path) else {
                        return try chat.model.preprocess(imageAt: URL(fileURLWithPath: path))
                    }
                    return try preprocessed(data, name: path)
                case .encoded(let bytes, let name): return try preprocessed(Data(bytes), name: name)
                }
            } catch {
                throw RowFieldError(location: row.location, key: options.imageKey, message: "\(error)")
            }
        }
        var state = ChatState(system: options.system, settings: options.settings)
        state.pendingImages = images.indices.map { "image \($0)" }
        state.addUserTurn(question)
        do { return try chat.request(state, images: images) } catch {
            throw RowFieldError(location: row.location, key: nil, message: "\(error)")
        }
    }

    /// `data` decoded and preprocessed, or the same bytes' result from one of the last rows.
    func preprocessed(_ data: Data, name: String) throws -> ProcessedImage {
        try recentImages.value(for: ContentDigest(of: data)) {
            let image = try chat.model.preprocess(imageData: data, name: name)
            imagesPreprocessed += 1
            return image
        }
    }

    static func reason(_ finish: FinishReason) -> String {
        switch finish {
        case .stop: "stop"
        case .length: "length"
        case .cancelled: "cancelled"
        case .failed: "error"
        }
    }

    /// A row's error as one line that says where (the row's location when the error does not).
    static func message(_ error: Error, record: Int) -> String {
        if error is RowFieldError || error is TFRecordError { return "\(error)" }
        return "record \(record): \(error)"
    }
}

/// Rows the engine finished during a step (its callbacks run on the stepping thread, which is this one).
private final class Finished {
    private var items: [(Int, String?, GenerationResult, Int)] = []
    var count: Int { items.count }
    func add(_ item: (Int, String?, GenerationResult, Int)) { items.append(item) }
    func take() -> [(Int, String?, GenerationResult, Int)] { defer { items = [] }; return items }
}
