import Foundation
import PrismTestSupport
import XCTest

/// `prism ask --batch` and `prism segment --batch` as a user runs them: rows out, a summary on stderr, one-line
/// errors and exit codes, --resume on a finished output, --on-error stop.
final class BatchCommandTests: XCTestCase {
    func prism(_ arguments: [String]) throws -> PrismRun {
        try runPrism(arguments, home: BatchFixtures.root.path)   // Prompts/ and Weights/ of this checkout
    }

    func testAskBatchWritesOneRowPerRecordAndResumeSeesItFinished() throws {
        let dir = temporaryDirectory("batch-cli")
        try BatchFixtures.images([1, 2, 3], in: dir)
        let rows = dir.appendingPathComponent("rows.jsonl")
        try BatchFixtures.jsonl((1...3).map { #"{"k": "r\#($0)", "image": "images/img\#($0).png", "q": "what?"}"# }, at: rows)
        let out = dir.appendingPathComponent("out/answers.jsonl").path
        let args = ["ask", "-m", BatchFixtures.chatModel.path, "--batch", rows.path, "-o", out, "--question-key", "q",
                    "--id-key", "k", "--temp", "0", "--max-tokens", "3"]
        let r = try prism(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.hasPrefix("answered 3 rows to \(out) in "), r.stderr)
        let lines = try BatchFixtures.lines(URL(fileURLWithPath: out))
        XCTAssertEqual(try lines.map { try BatchFixtures.object($0)["id"] as? String }, ["r1", "r2", "r3"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".partial"))

        let again = try prism(args + ["--resume"])
        XCTAssertEqual(again.status, 0)
        XCTAssertEqual(again.stderr, "\(out) is already complete (3 rows): nothing to do\n")
        // worker 1 of 2 takes record 1 and 2 of 0…2
        let part = dir.appendingPathComponent("part.jsonl").path
        XCTAssertEqual(try prism(args.map { $0 == out ? part : $0 } + ["--shard-index", "1", "--shard-count", "2"]).status, 0)
        XCTAssertEqual(try BatchFixtures.lines(URL(fileURLWithPath: part)), Array(lines[1...]))
    }

    func testErrorsAreOneLineWithTheRightStatus() throws {
        let dir = temporaryDirectory("batch-cli-errors")
        try BatchFixtures.images([1], in: dir)
        let rows = dir.appendingPathComponent("rows.jsonl")
        try BatchFixtures.jsonl([#"{"image": "images/img1.png"}"#, #"{"image": "images/none.png"}"#], at: rows)
        let model = ["-m", BatchFixtures.chatModel.path]
        let noOutput = try prism(["ask"] + model + ["--batch", rows.path, "-p", "hi"])
        XCTAssertEqual(noOutput.status, 1)
        XCTAssertEqual(noOutput.stderr, "Error: --batch needs -o OUTPUT.jsonl\n")
        let both = try prism(["ask"] + model + ["--batch", rows.path, "-o", "x.jsonl", "-p", "hi", "--question-key", "q"])
        XCTAssertEqual(both.stderr, "Error: --batch needs the question: -p \"…\" for every row, or --question-key COLUMN\n")
        let missing = try prism(["ask"] + model + ["--batch", dir.path + "/nothing.jsonl", "-o", "x.jsonl", "-p", "hi"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "Error: \(dir.path)/nothing.jsonl: no such file\n")
        let shard = try prism(["ask"] + model + ["--batch", rows.path, "-o", "x.jsonl", "-p", "hi", "--shard-index", "2", "--shard-count", "2"])
        XCTAssertEqual(shard.status, 64)
        XCTAssertTrue(shard.stderr.hasPrefix("Error: --shard-index must be 0 to 1\n"), shard.stderr)

        let out = dir.appendingPathComponent("answers.jsonl").path
        let stop = try prism(["ask"] + model + ["--batch", rows.path, "-o", out, "-p", "hi", "--max-tokens", "2", "--on-error", "stop"])
        XCTAssertEqual(stop.status, 1)
        XCTAssertEqual(stop.stderr, "Error: \(rows.path):2: \"image\": \(dir.path)/images/none.png: cannot read image: No such file or directory (rows before it are in \(out).partial; fix the row and rerun with --resume)\n")
        XCTAssertEqual(try BatchFixtures.lines(URL(fileURLWithPath: out + ".partial")).count, 1)
        // fixed row, --resume: only the second row runs
        try BatchFixtures.png(5).write(to: dir.appendingPathComponent("images/none.png"))
        let resumed = try prism(["ask"] + model + ["--batch", rows.path, "-o", out, "-p", "hi", "--max-tokens", "2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.hasPrefix("resuming \(out).partial after 1 rows\nanswered 1 rows"), resumed.stderr)
        XCTAssertEqual(try BatchFixtures.lines(URL(fileURLWithPath: out)).count, 2)
    }

    func testSegmentBatch() throws {
        let dir = temporaryDirectory("batch-cli-segment")
        try BatchFixtures.images([1], in: dir)
        let rows = dir.appendingPathComponent("rows.jsonl")
        try BatchFixtures.jsonl([#"{"image": "images/img1.png", "box": [4, 4, 40, 30]}"#, #"{"image": "images/img1.png"}"#], at: rows)
        let out = dir.appendingPathComponent("out/rows-masks.jsonl").path
        let r = try prism(["segment", "--batch", rows.path, "-o", dir.appendingPathComponent("out").path, "--prefix", "rows-masks"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("segmented 2 rows to \(out) in "), r.stderr)
        XCTAssertTrue(r.stderr.hasSuffix(", 1 error row\n"), r.stderr)
        let lines = try BatchFixtures.lines(URL(fileURLWithPath: out)).map(BatchFixtures.object)
        XCTAssertEqual((lines[0]["masks"] as? [Any])?.count, 1)
        XCTAssertEqual(lines[1]["finish_reason"] as? String, "error")
        let mixed = try prism(["segment", dir.path + "/images/img1.png", "--batch", rows.path])
        XCTAssertEqual(mixed.status, 1)
        XCTAssertEqual(mixed.stderr, "Error: --batch takes images and prompts from the rows: drop the image argument and --point/--box/--everything/--multimask/--embedding-cache/--format/--json\n")
    }
}
