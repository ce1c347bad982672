import ArgumentParser
import Foundation
import PrismData
import PrismIO
import PrismSAM
import PrismTokenizer
import PrismVLM

/// `prism eval vqa|seg`: the embedded models on a synthetic-scenes split (Tools/train/make_dataset.py), through
/// the Swift engine. Metric definitions live in PrismData/Metrics.swift (mirrored by Tools/train/eval_torch.py).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate a model on a TFRecord test split.",
        subcommands: [EvalVQA.self, EvalSeg.self])
}

/// `--data` files and `--limit`, shared by both evaluations.
struct EvalDataArguments: ParsableArguments {
    @Option(name: .customLong("data"), parsing: .upToNextOption,
            help: "TFRecord files or folders (e.g. test-*.tfrecord.gz), read in the order given.")
    var data: [String] = []
    @Option(help: "Evaluate only the first N records.") var limit: Int?

    func validate() throws {
        if data.isEmpty { throw ValidationError("give the split with --data FILE…") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    /// Calls `body` with each example, in file order, up to `limit`.
    func forEachExample(_ body: (Int, Example) throws -> Void) throws {
        var index = 0
        for path in try expandTFRecordInputs(data) {
            let reader = try TFRecordReader(path: path)
            while let example = try reader.nextExample() {
                if let limit, index >= limit { return }
                try body(index, example)
                index += 1
            }
        }
    }
}

enum EvalRecord {
    static func string(_ e: Example, _ key: String) throws -> String {
        guard case .bytes(let v)? = e[key], let first = v.first else { throw UserError("record lacks \(key)") }
        return String(decoding: first, as: UTF8.self)
    }

    static func int(_ e: Example, _ key: String) throws -> Int {
        guard case .int64s(let v)? = e[key], let first = v.first else { throw UserError("record lacks \(key)") }
        return Int(first)
    }

    static func floats(_ e: Example, _ key: String) throws -> [Float] {
        guard case .floats(let v)? = e[key] else { throw UserError("record lacks \(key)") }
        return v
    }

    /// Text values of a bytes feature (empty when the record lacks it).
    static func strings(_ e: Example, _ key: String) -> [String] {
        guard case .bytes(let v)? = e[key] else { return [] }
        return v.map { String(decoding: $0, as: UTF8.self) }
    }

    /// The conversation that ends with the scored question: the image in the first user turn, then any earlier
    /// turns the record carries (history/question, history/answer: the multi-turn split), then the question.
    static func conversation(_ e: Example, question: String) throws -> [ChatMessage] {
        let asked = strings(e, "history/question"), answered = strings(e, "history/answer")
        guard asked.count == answered.count else {
            throw UserError("record has \(asked.count) history/question values but \(answered.count) history/answer values")
        }
        var turns: [ChatMessage] = []
        for (i, (q, a)) in zip(asked, answered).enumerated() {
            turns.append(i == 0 ? .user(.image, .text(q)) : .user(q))
            turns.append(.assistant(a))
        }
        turns.append(turns.isEmpty ? .user(.image, .text(question)) : .user(question))
        return turns
    }

    static func image(_ e: Example) throws -> RGBImage {
        guard case .bytes(let v)? = e["image/encoded"], let bytes = v.first else { throw UserError("record lacks image/encoded") }
        return try RGBImage(data: Data(bytes), path: "image/encoded")
    }

    /// Object k's mask from image/object/mask (PNG, nonzero = inside).
    static func mask(_ e: Example, _ k: Int) throws -> BinaryMask {
        guard case .bytes(let v)? = e["image/object/mask"], k < v.count else { throw UserError("record lacks mask \(k)") }
        let img = try RGBImage(data: Data(v[k]), path: "image/object/mask[\(k)]")
        return BinaryMask(width: img.width, height: img.height,
                          bits: stride(from: 0, to: img.pixels.count, by: 3).map { img.pixels[$0] > 127 })
    }
}

struct EvalVQA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqa",
        abstract: "Answer accuracy per question type (greedy decoding).",
        discussion: """
        Each record's question is asked about its image with the chat template; the greedy answer is scored as \
        Tools/train/qa.py does: exact match, except box (IoU ≥ 0.5) and point (inside the object's mask). \
        Exact match is reported for every type.
        """)

    @Option(name: [.short, .customLong("model")], help: "Model directory (default: the embedded Weights/prism-vl-tiny).")
    var model: String?
    @OptionGroup var dataArguments: EvalDataArguments
    @Option(help: "Write one JSON line per record (question, question_type, answer, prediction, correct).")
    var predictions: String?
    @Option(name: .customLong("max-tokens"), help: "Most tokens per answer.") var maxTokens = 32
    @OptionGroup var precisionArguments: PrecisionArguments

    func run() throws {
        let precision = try precisionArguments.resolve()
        let dir = try model.map { URL(fileURLWithPath: $0) } ?? {
            guard let url = ProjectPaths.locate("Weights/prism-vl-tiny") else {
                throw UserError("the embedded Weights/prism-vl-tiny is not installed: pass -m DIR")
            }
            return url
        }()
        let vlm = try KimiVL.load(directory: dir, precision: precision)
        let tokenizer = try TikTokenizer(directory: dir)
        let template = try ChatTemplate.load()
        let stops = Set(template.stopTokenIDs(tokenizer))
        // greedy, each record on its own: no prefix reuse and the whole prompt in one prefill, so the numbers are
        // those of a plain prefill + decode (what the PyTorch agreement was measured on)
        let engine = GenerationEngine(model: vlm, options: EngineOptions(prefillChunk: 1 << 20, prefixCacheBytes: 0, visionCacheBytes: 0))
        var out: FileHandle?
        if let predictions {
            guard FileManager.default.createFile(atPath: predictions, contents: nil) else { throw UserError("cannot write \(predictions)") }
            out = FileHandle(forWritingAtPath: predictions)
        }
        defer { try? out?.close() }
        var tally = AnswerTally()
        let start = Date()
        try dataArguments.forEachExample { index, e in
            let question = try EvalRecord.string(e, "question"), answer = try EvalRecord.string(e, "answer")
            let type = try EvalRecord.string(e, "question_type")
            let image = try vlm.imageProcessor(EvalRecord.image(e))
            let tokens = try template.tokenize(EvalRecord.conversation(e, question: question),
                                               imageTokenCounts: [image.tokenCount], tokenizer: tokenizer)
            let ids = try engine.generate(GenerationRequest(prompt: Prompt(tokens: tokens, images: [image]),
                                                            maxTokens: maxTokens, stopTokens: stops)).tokens
            let predicted = tokenizer.decode(ids)
            let objectIndex = try EvalRecord.int(e, "answer_object")
            let mask = type == "point" && objectIndex >= 0 ? try EvalRecord.mask(e, objectIndex) : nil
            let correct = AnswerScoring.isCorrect(type: type, predicted: predicted, answer: answer, mask: mask)
            tally.add(type: type, correct: correct, exact: AnswerScoring.isExact(predicted, answer))
            if let out {
                let line: [String: Any] = ["index": index, "question": question, "question_type": type, "answer": answer,
                                           "prediction": predicted, "correct": correct]
                out.write(try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]) + Data("\n".utf8))
            }
        }
        print(tally.table(order: ["color", "shape_at", "count", "relation", "bigger", "exists", "describe", "box", "point"]))
        print(String(format: "%d records in %.1f s", tally.overall.total, Date().timeIntervalSince(start)))
    }
}

struct EvalSeg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seg",
        abstract: "mIoU, pixel accuracy and mean pixel accuracy for 1-point, 3-point and box prompts.",
        discussion: """
        Every object of every record is prompted three ways: its 1-point prompt (image/object/point; multimask, \
        the mask with the best predicted IoU), its 3-point prompt (image/object/points3; single mask) and its box \
        (image/object/bbox/*; single mask). Scores are per object against image/object/mask, averaged.
        """)

    @Option(name: [.short, .customLong("model")], help: "Model directory (default: the embedded Weights/prism-sam-tiny).")
    var model: String?
    @OptionGroup var dataArguments: EvalDataArguments
    @OptionGroup var precisionArguments: PrecisionArguments

    func run() throws {
        let precision = try precisionArguments.resolve()
        let dir = try model.map { URL(fileURLWithPath: $0) } ?? {
            guard let url = ProjectPaths.locate(SegmentCommand.defaultModel) else {
                throw UserError("the embedded \(SegmentCommand.defaultModel) is not installed: pass -m DIR")
            }
            return url
        }()
        let predictor = try SamPredictor(directory: dir, precision: precision)
        var tally = MaskTally()
        let start = Date()
        try dataArguments.forEachExample { _, e in
            let img = try EvalRecord.image(e)
            let embedding = predictor.embed(img)
            let p1 = try EvalRecord.floats(e, "image/object/point"), p3 = try EvalRecord.floats(e, "image/object/points3")
            let x0 = try EvalRecord.floats(e, "image/object/bbox/xmin"), y0 = try EvalRecord.floats(e, "image/object/bbox/ymin")
            let x1 = try EvalRecord.floats(e, "image/object/bbox/xmax"), y1 = try EvalRecord.floats(e, "image/object/bbox/ymax")
            let W = Float(img.width), H = Float(img.height)
            for k in 0..<x0.count {
                let truth = try EvalRecord.mask(e, k)
                func score(_ kind: String, _ prediction: MaskPrediction, _ i: Int) {
                    let predicted = BinaryMask(width: prediction.width, height: prediction.height, bytes: prediction.mask(i))
                    tally.add(kind, MaskScores(predicted: predicted, truth: truth))
                }
                let one = try predictor.masks(embedding, points: [SamPoint(x: p1[2 * k], y: p1[2 * k + 1])], multimask: true)
                score("1-point", one, one.best)
                let three = try predictor.masks(embedding, points: (0..<3).map { SamPoint(x: p3[6 * k + 2 * $0], y: p3[6 * k + 2 * $0 + 1]) },
                                                multimask: false)
                score("3-point", three, 0)
                // bbox/* are normalised; the dataset's boxes are whole pixels
                let box = SamBox(x0: (x0[k] * W).rounded(), y0: (y0[k] * H).rounded(), x1: (x1[k] * W).rounded(), y1: (y1[k] * H).rounded())
                score("box", try predictor.masks(embedding, box: box, multimask: false), 0)
            }
        }
        print(tally.table(order: ["1-point", "3-point", "box"]))
        print(String(format: "%.1f s", Date().timeIntervalSince(start)))
    }
}
