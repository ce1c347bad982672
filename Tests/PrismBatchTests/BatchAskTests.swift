import Foundation
@testable import PrismBatch
import PrismChat
import PrismData
import PrismTestSupport
import PrismTokenizer
import PrismVLM
import XCTest

/// `ask --batch` on the embedded model: answers equal one-by-one answers (greedy), the engine really packs rows,
/// shards tile the rows, resume continues a cut output, bad rows become error rows or stop the job.
final class BatchAskTests: XCTestCase {
    static let chat = try! KimiVLEngine(directory: BatchFixtures.embeddedModel, template: BatchFixtures.template)
    var chat: KimiVLEngine { Self.chat }

    var settings: ChatSettings {
        var s = ChatSettings()
        s.temperature = 0
        s.maxTokens = 6
        return s
    }

    func options(questionKey: String? = nil, prompt: String? = "what is it?") -> BatchAskOptions {
        var o = BatchAskOptions(imageKey: "image", questionKey: questionKey, prompt: questionKey == nil ? prompt : nil, idKey: "id")
        o.settings = settings
        o.inFlight = 4
        return o
    }

    /// Seven rows over six images: two questions per image for img2, several images in one row, no image.
    func goodRows(in dir: URL) throws -> URL {
        try BatchFixtures.images([1, 2, 3, 4, 5, 6], in: dir)
        let url = dir.appendingPathComponent("rows.jsonl")
        try BatchFixtures.jsonl([
            #"{"id": "a", "image": "images/img1.png", "question": "what colour is it?"}"#,
            #"{"id": "b", "image": ["images/img2.png"], "question": ["how many?"]}"#,
            #"{"id": 3, "image": "images/img2.png", "question": "where is it?"}"#,
            #"{"id": "d", "image": ["images/img3.png", "images/img4.png"], "question": "same?"}"#,
            #"{"id": "e", "image": [], "question": "hello"}"#,
            #"{"id": "f", "image": "images/img5.png", "question": "what shape?"}"#,
            #"{"id": "g", "image": "images/img6.png", "question": "is it big?"}"#,
        ], at: url)
        return url
    }

    func run(_ input: URL, _ options: BatchAskOptions, slice: ShardSlice? = nil, out: URL, resume: Bool = false,
             chat: KimiVLEngine? = nil, asker: ((BatchAsker) -> Void)? = nil) throws -> BatchProgress {
        let batchInput = try BatchInput(paths: [input.path], slice: slice)
        let output = try BatchOutput(path: out.path, range: batchInput.range, resume: resume)
        let a = BatchAsker(chat: chat ?? self.chat, options: options)
        defer { asker?(a) }
        return try a.run(batchInput, into: output)
    }

    /// The plain `prism ask` path (KimiVLEngine.reply) for one question about some images.
    func askAlone(_ images: [String], _ question: String, engine: KimiVLEngine) throws -> String {
        var state = ChatState(settings: settings)
        state.pendingImages = images
        state.addUserTurn(question)
        var answer = ""
        _ = try engine.reply(to: state, onText: { answer += $0 }, shouldStop: { false })
        return answer
    }

    func testAnswersEqualOneByOneAnswersAndRowsArePacked() throws {
        let dir = temporaryDirectory("batch-ask")
        let input = try goodRows(in: dir)
        let fresh = try KimiVLEngine(directory: BatchFixtures.embeddedModel, template: BatchFixtures.template)
        let out = dir.appendingPathComponent("answers.jsonl")
        var preprocessed = 0
        let progress = try run(input, options(questionKey: "question"), out: out, chat: fresh) { preprocessed = $0.imagesPreprocessed }
        XCTAssertEqual(preprocessed, 6, "7 image references to 6 images: img2's second row reuses its preprocessing")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path + ".partial"), "renamed when complete")
        let rows = try BatchFixtures.lines(out).map(BatchFixtures.object)
        XCTAssertEqual(rows.map { $0["record"] as? Int }, Array(0..<7))
        XCTAssertEqual(progress.rows, 7)
        XCTAssertEqual(progress.errors, 0)

        let one = try KimiVLEngine(directory: BatchFixtures.embeddedModel, template: BatchFixtures.template)
        let asked: [([String], String)] = [
            (["images/img1.png"], "what colour is it?"), (["images/img2.png"], "how many?"), (["images/img2.png"], "where is it?"),
            (["images/img3.png", "images/img4.png"], "same?"), ([], "hello"), (["images/img5.png"], "what shape?"),
            (["images/img6.png"], "is it big?"),
        ]
        var generated = 0
        for (row, (images, question)) in zip(rows, asked) {
            let alone = try askAlone(images.map { dir.appendingPathComponent($0).path }, question, engine: one)
            XCTAssertEqual(row["answer"] as? String, alone, "record \(row["record"]!)")
            let reason = row["finish_reason"] as? String, completion = row["completion_tokens"] as? Int ?? 0
            XCTAssertTrue(reason == "stop" && (1...6).contains(completion) || reason == "length" && completion == 6, "\(row)")
            XCTAssertGreaterThan(row["prompt_tokens"] as? Int ?? 0, row["image_tokens"] as? Int ?? 0)
            generated += row["completion_tokens"] as! Int
        }
        XCTAssertGreaterThanOrEqual(Set(rows.compactMap { $0["answer"] as? String }).count, 4, "answers depend on the row: \(rows)")
        XCTAssertEqual(rows.map { $0["id"] as? String }, ["a", "b", nil, "d", "e", "f", "g"])
        XCTAssertEqual(rows[2]["id"] as? Int, 3, "a numeric id stays a number")
        XCTAssertEqual(rows[3]["image_tokens"] as? Int, 2 * (rows[0]["image_tokens"] as! Int), "same-size images")
        XCTAssertEqual(rows[4]["image_tokens"] as? Int, 0)
        // Packed: one by one, every row needs its own prefill and decode steps; the batch shared them.
        let steps = fresh.engine.snapshot.steps, alone = one.engine.snapshot.steps
        XCTAssertLessThan(steps * 2, alone, "\(steps) engine steps batched, \(alone) one by one, for \(generated) tokens")
    }

    func testShardsTogetherWriteExactlyTheRowsOfOneRun() throws {
        let dir = temporaryDirectory("batch-shards")
        let input = try goodRows(in: dir)
        let whole = dir.appendingPathComponent("whole.jsonl")
        _ = try run(input, options(), out: whole)
        let expected = try Data(contentsOf: whole)
        for count in [2, 3, 7, 9] {
            var joined = Data()
            for index in 0..<count {
                let part = dir.appendingPathComponent("part-\(index)-of-\(count).jsonl")
                let p = try run(input, options(), slice: ShardSlice(index: index, count: count), out: part)
                XCTAssertEqual(p.rows, ShardSlice(index: index, count: count).range(of: 7).count)
                joined += try Data(contentsOf: part)
            }
            XCTAssertEqual(String(decoding: joined, as: UTF8.self), String(decoding: expected, as: UTF8.self), "\(count) shards")
        }
    }

    func testResumeAfterACutOutputRedoesOnlyTheMissingRows() throws {
        let dir = temporaryDirectory("batch-resume")
        let input = try goodRows(in: dir)
        let whole = dir.appendingPathComponent("whole.jsonl")
        _ = try run(input, options(), out: whole)
        let full = try Data(contentsOf: whole)
        // a killed run: three complete rows and half of the fourth in OUT.partial
        let lineEnds = full.indices.filter { full[$0] == 0x0A }
        let out = dir.appendingPathComponent("answers.jsonl")
        try full[..<(lineEnds[3] - 10)].write(to: URL(fileURLWithPath: out.path + ".partial"))
        let progress = try run(input, options(), out: out, resume: true)
        XCTAssertEqual(progress.rows, 4, "rows 3…6 redone, 0…2 kept")
        XCTAssertEqual(try Data(contentsOf: out), full)
        // a finished output: nothing to do
        let again = try BatchOutput(path: out.path, range: 0..<7, resume: true)
        XCTAssertTrue(again.alreadyComplete)
        // without --resume the partial is started over
        try full[..<lineEnds[1]].write(to: URL(fileURLWithPath: out.path + ".partial"))
        XCTAssertEqual(try run(input, options(), out: out, resume: false).rows, 7)
        XCTAssertEqual(try Data(contentsOf: out), full)
    }

    func testResumeRefusesAnotherShardsRows() throws {
        let dir = temporaryDirectory("batch-resume-mismatch")
        let out = dir.appendingPathComponent("answers.jsonl")
        try Data(#"{"record":0,"answer":"x"}"#.utf8 + [0x0A]).write(to: URL(fileURLWithPath: out.path + ".partial"))
        XCTAssertThrowsError(try BatchOutput(path: out.path, range: 3..<7, resume: true)) { error in
            XCTAssertEqual("\(error)", "\(out.path).partial:1: row for record 0, but this job's next record is 3 of 3..<7 (another input or shard?): remove the file or run without --resume")
        }
        try Data("not json\n".utf8).write(to: URL(fileURLWithPath: out.path + ".partial"))
        XCTAssertThrowsError(try BatchOutput(path: out.path, range: 0..<7, resume: true)) { error in
            XCTAssertEqual("\(error)", "\(out.path).partial:1: not a row of a batch job (no \"record\" number): remove the file or run without --resume")
        }
    }

    /// Missing and undecodable images, a missing column, a line that is not JSON: error rows in place, the other
    /// rows answered; under .stop the job stops at the first with the rows before it written.
    func testBadRowsBecomeErrorRowsOrStopTheJob() throws {
        let dir = temporaryDirectory("batch-bad")
        try BatchFixtures.images([1, 2], in: dir)
        try Data("not a png".utf8).write(to: dir.appendingPathComponent("images/broken.png"))
        let input = dir.appendingPathComponent("rows.jsonl")
        try BatchFixtures.jsonl([
            #"{"id": "ok1", "image": "images/img1.png"}"#,
            #"{"id": "gone", "image": "images/missing.png"}"#,
            #"{"id": "broken", "image": "images/broken.png"}"#,
            #"{"id": "noimage"}"#,
            #"{"id": "bad json", "image": "#,
            #"{"id": "ok2", "image": "images/img2.png"}"#,
            #"{"image": "images/img2.png"}"#,
        ], at: input)
        let out = dir.appendingPathComponent("answers.jsonl")
        let progress = try run(input, options(), out: out)
        XCTAssertEqual(progress.errors, 5)
        let rows = try BatchFixtures.lines(out).map(BatchFixtures.object)
        XCTAssertEqual(rows.map { $0["record"] as? Int }, Array(0..<7))
        XCTAssertEqual(rows.map { $0["finish_reason"] as? String == "error" }, [false, true, true, true, true, false, true])
        let base = input.path
        XCTAssertEqual(rows[1]["error"] as? String, "\(base):2: \"image\": \(dir.path)/images/missing.png: cannot read image: No such file or directory")
        XCTAssertEqual(rows[1]["id"] as? String, "gone")
        XCTAssertTrue((rows[2]["error"] as? String ?? "").hasPrefix("\(base):3: \"image\": \(dir.path)/images/broken.png: "), "\(rows[2])")
        XCTAssertEqual(rows[3]["error"] as? String, "\(base):4: \"image\": missing (the --image-key column)")
        XCTAssertEqual(rows[4]["error"] as? String, "\(base):5: invalid JSON at column 29: unexpected end of line")
        XCTAssertNil(rows[4]["id"])
        XCTAssertEqual(rows[6]["error"] as? String, "\(base):7: \"id\": missing (the --id-key column)")
        XCTAssertNotNil(rows[5]["answer"])

        var stop = options()
        stop.badRows = .stop
        let stopped = dir.appendingPathComponent("stopped.jsonl")
        XCTAssertThrowsError(try run(input, stop, out: stopped)) { error in
            XCTAssertEqual(error as? BatchError, .stopped("\(base):2: \"image\": \(dir.path)/images/missing.png: cannot read image: No such file or directory"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: stopped.path))
        let kept = try BatchFixtures.lines(URL(fileURLWithPath: stopped.path + ".partial"))
        XCTAssertEqual(kept, [try BatchFixtures.lines(out)[0]], "the row before the bad one, as the full run wrote it")
    }

    /// The same images as encoded bytes in a TFRecord give the same answers as JSONL paths.
    func testTFRecordInputMatchesJSONL() throws {
        let dir = temporaryDirectory("batch-tfrecord")
        try BatchFixtures.images([7, 8, 9], in: dir)
        let jsonl = dir.appendingPathComponent("rows.jsonl")
        try BatchFixtures.jsonl((7...9).map { #"{"id": "r\#($0)", "image": "images/img\#($0).png", "question": "what is it?"}"# }, at: jsonl)
        let tfr = dir.appendingPathComponent("rows.tfrecord")
        try BatchFixtures.tfrecord(try (7...9).map { (try BatchFixtures.png($0), "what is it?", "r\($0)") }, at: tfr)
        let a = dir.appendingPathComponent("a.jsonl"), b = dir.appendingPathComponent("b.jsonl")
        _ = try run(jsonl, options(questionKey: "question"), out: a)
        var tf = options(questionKey: "question")
        tf.imageKey = "image/encoded"
        _ = try run(tfr, tf, out: b)
        XCTAssertEqual(try BatchFixtures.lines(a), try BatchFixtures.lines(b))
        XCTAssertEqual(try BatchFixtures.lines(a).count, 3)
    }
}
