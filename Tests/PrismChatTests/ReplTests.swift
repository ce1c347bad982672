import Foundation
import PrismChat
import PrismSAM
import PrismTestSupport
import XCTest

/// Echoes the number of turns and images it was given, one word at a time.
final class FakeEngine: ChatEngine {
    var seen: [ChatState] = []
    var failNext = false
    func reply(to state: ChatState, onText: (String) -> Void, shouldStop: () -> Bool) throws -> ReplyStats {
        seen.append(state)
        if failNext { failNext = false; throw ReplError.usage("engine failed") }
        var stats = ReplyStats()
        for word in ["turns=\(state.turns.count)", " images=\(state.allImages.count)", " temp=\(state.settings.temperature)"] {
            if shouldStop() { stats.interrupted = true; break }
            onText(word)
            stats.generatedTokens += 1
        }
        return stats
    }
}

final class FakeSegmenter: Segmenter {
    func segment(imagePath: String, points: [SamPoint], box: SamBox?) throws -> SegmentResult {
        SegmentResult(overlayPath: imagePath + ".overlay.png", maskPath: imagePath + ".mask.png", score: 0.9,
                      area: points.count * 100 + (box == nil ? 0 : 1))
    }
    func segmentEverything(imagePath: String) throws -> EverythingResult {
        EverythingResult(count: 7, masksPath: imagePath + ".json", overlayPath: imagePath + ".overlay.png")
    }
}

final class ScriptReader: LineReader {
    var lines: [String]
    init(_ lines: [String]) { self.lines = lines }
    func readLine(prompt: String) -> String? { lines.isEmpty ? nil : lines.removeFirst() }
}

/// Where a relative path attached with /image ends up.
func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }

final class ReplTests: XCTestCase {
    var output = ""
    let engine = FakeEngine()

    func makeRepl(_ script: [String], stop: @escaping () -> Bool = { false }) -> Repl {
        Repl(state: ChatState(), engine: engine, segmenter: FakeSegmenter(), reader: ScriptReader(script),
             write: { self.output += $0 },
             checkImage: { p in if !p.hasSuffix(".png") { throw ReplError.invalidValue(key: "/image", value: p, expected: "an image") } },
             shouldStop: stop)
    }

    func testConversationWithImagesFollowUpsAndSettings() {
        let repl = makeRepl(["/image a.png b.png", "describe", "/set temp 0.9", "and now?", "/segment 3,4", "/quit", "never read"])
        repl.run()
        XCTAssertEqual(repl.state.turns.map(\.role), [.user, .assistant, .user, .assistant])
        XCTAssertEqual(repl.state.turns[0].images, [absolute("a.png"), absolute("b.png")])
        XCTAssertEqual(repl.state.turns[1].text, "turns=1 images=2 temp=0.2")
        XCTAssertEqual(repl.state.turns[3].text, "turns=3 images=2 temp=0.9", "the follow-up sees the whole history")
        XCTAssertTrue(output.contains("mask: predicted IoU 0.900, area 100 px → \(absolute("b.png")).mask.png"))
        XCTAssertEqual(engine.seen.count, 2)
    }

    func testErrorsLeaveHistoryIntact() {
        let repl = makeRepl(["hello", "/image missing.jpg", "/bogus", "/segment 1,2"])
        repl.run()
        XCTAssertEqual(repl.state.turns.count, 2)
        XCTAssertEqual(repl.state.pendingImages, [], "a bad image is not attached")
        XCTAssertTrue(output.contains("error: invalid value '\(absolute("missing.jpg"))' for /image: expected an image\n"))
        XCTAssertTrue(output.contains("error: unknown command /bogus"))
        XCTAssertTrue(output.contains("error: usage: /segment needs an image: attach one with /image PATH"))
    }

    func testFailedGenerationRollsBackTheTurn() {
        let repl = makeRepl([])
        repl.handle("/image x.png")
        engine.failNext = true
        repl.handle("first try")
        XCTAssertEqual(repl.state.turns, [])
        XCTAssertEqual(repl.state.pendingImages, [absolute("x.png")], "the images wait for the retry")
        repl.handle("second try")
        XCTAssertEqual(repl.state.turns.first?.images, [absolute("x.png")])
    }

    func testInterruptStopsTheAnswerButKeepsTheSession() {
        var calls = 0
        let repl = makeRepl(["hi", "again"], stop: { calls += 1; return calls == 2 })
        repl.run()
        XCTAssertEqual(repl.state.turns[1].text, "turns=1", "stopped after the first word")
        XCTAssertEqual(repl.state.turns.count, 4, "the REPL carried on with the next question")
    }

    func testSegmentPromptsEverythingAndNegativeOnlyWarning() {
        let repl = makeRepl(["/image a.png", "/segment 1,2 3,4,0 box=0,0,9,9", "/segment 5,5,0", "/segment everything"])
        repl.run()
        XCTAssertTrue(output.contains("mask: predicted IoU 0.900, area 201 px"), output)
        XCTAssertEqual(output.components(separatedBy: "warning: only negative clicks").count, 2, "one warning, for the lone negative click")
        XCTAssertTrue(output.contains("everything: 7 masks → \(absolute("a.png")).json (overlay \(absolute("a.png")).overlay.png)"))
    }

    /// --image attachments survive /clear and /system; the REPL says so.
    func testClearKeepsStartImages() {
        var start = ChatState()
        start.pendingImages = [absolute("start.png")]
        let repl = Repl(state: start, engine: engine, segmenter: nil, reader: ScriptReader(["q1", "/clear", "q2", "/system Hi.", "q3"]),
                        write: { self.output += $0 }, checkImage: { _ in })
        repl.run()
        XCTAssertEqual(engine.seen.map { $0.turns.last!.images }, [[absolute("start.png")], [absolute("start.png")], [absolute("start.png")]])
        XCTAssertTrue(output.contains("conversation cleared; still attached for your next message: start.png"), output)
        XCTAssertTrue(output.contains("system prompt set; conversation cleared; still attached for your next message: start.png"))
    }

    /// Escape sequences in an answer reach neither the terminal nor the transcript raw.
    func testControlBytesAreEscaped() {
        final class Raw: ChatEngine {
            func reply(to state: ChatState, onText: (String) -> Void, shouldStop: () -> Bool) throws -> ReplyStats {
                onText("red\u{1B}[31m bell\u{07} ok\ttab\nline \u{9B}2J")
                return ReplyStats()
            }
        }
        let repl = Repl(state: ChatState(), engine: Raw(), segmenter: nil, reader: ScriptReader(["hi"]),
                        write: { self.output += $0 }, checkImage: { _ in })
        repl.run()
        let expected = "red\\x1b[31m bell\\x07 ok\ttab\nline \\x9b2J"
        XCTAssertEqual(repl.state.turns.last?.text, expected)
        XCTAssertTrue(output.contains(expected))
        XCTAssertFalse(output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B })
    }

    func testSaveAndLoadTranscript() throws {
        let dir = temporaryDirectory()
        let path = dir.appendingPathComponent("t.json").path
        let repl = makeRepl(["/system Be terse.", "/image a.png", "q1", "/set top_k 5", "/save \(path)", "/clear"])
        repl.run()
        XCTAssertEqual(repl.state.turns, [])
        let other = makeRepl(["/load \(path)"])
        other.run()
        XCTAssertEqual(other.state.system, "Be terse.")
        XCTAssertEqual(other.state.turns.map(\.text), ["q1", "turns=1 images=1 temp=0.2"])
        XCTAssertEqual(other.state.turns[0].images, [absolute("a.png")])
        XCTAssertEqual(other.state.settings.topK, 5)
        let json = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(json.contains("\"images\" : [\n        \"\(absolute("a.png"))\""), json)
        try "not json".write(toFile: path, atomically: true, encoding: .utf8)
        let third = makeRepl(["/load \(path)"])
        third.run()
        XCTAssertTrue(output.contains("error: invalid value '\(path)' for /load: expected a transcript written by /save"))
    }

    func testSystemPromptClearsConversation() {
        let repl = makeRepl(["hello", "/system You are a pirate."])
        repl.run()
        XCTAssertEqual(repl.state.system, "You are a pirate.")
        XCTAssertEqual(repl.state.turns, [])
    }
}
