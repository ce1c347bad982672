import PrismChat
import PrismSAM
import XCTest

final class ReplCommandTests: XCTestCase {
    func testParsesEveryCommand() throws {
        XCTAssertNil(try ReplParser.parse("   "))
        XCTAssertEqual(try ReplParser.parse("  what colour is it? "), .say("what colour is it?"))
        XCTAssertEqual(try ReplParser.parse("/image a.jpg \"my pics/b c.png\""), .image(["a.jpg", "my pics/b c.png"]))
        XCTAssertEqual(try ReplParser.parse("/clear"), .clear)
        XCTAssertEqual(try ReplParser.parse("/system Be brief."), .system("Be brief."))
        XCTAssertEqual(try ReplParser.parse("/set temp 0.7"), .set(.temp, 0.7))
        XCTAssertEqual(try ReplParser.parse("/set max_tokens 64"), .set(.max_tokens, 64))
        XCTAssertEqual(try ReplParser.parse("/segment 10,20"), .segment(points: [SamPoint(x: 10, y: 20)], box: nil))
        XCTAssertEqual(try ReplParser.parse("/segment 10.5, 20, 0"), .segment(points: [SamPoint(x: 10.5, y: 20, label: .negative)], box: nil))
        XCTAssertEqual(try ReplParser.parse("/segment 1,2 3,4,0  box=0,0,9,8 5,6,1"),
                       .segment(points: [SamPoint(x: 1, y: 2), SamPoint(x: 3, y: 4, label: .negative), SamPoint(x: 5, y: 6)],
                                box: SamBox(x0: 0, y0: 0, x1: 9, y1: 8)))
        XCTAssertEqual(try ReplParser.parse("/segment box=1,2,30,40"), .segment(points: [], box: SamBox(x0: 1, y0: 2, x1: 30, y1: 40)))
        XCTAssertEqual(try ReplParser.parse("/segment everything"), .segmentEverything)
        XCTAssertEqual(try ReplParser.parse("/save t.json"), .save("t.json"))
        XCTAssertEqual(try ReplParser.parse("/load t.json"), .load("t.json"))
        XCTAssertEqual(try ReplParser.parse("/stats"), .stats)
        XCTAssertEqual(try ReplParser.parse("/help"), .help)
        XCTAssertEqual(try ReplParser.parse("/quit"), .quit)
    }

    /// Tab completion offers exactly the commands the parser knows.
    func testCommandNamesAreTheParsedCommands() throws {
        for name in ReplParser.commandNames {
            do { _ = try ReplParser.parse(name + " x") } catch ReplError.unknownCommand { XCTFail("\(name) is not a command") } catch {}
        }
        XCTAssertEqual(ReplParser.commandNames.count, Set(ReplParser.commandNames).count)
    }

    func testMalformedCommandsSayWhatIsWrong() {
        assertError("/frobnicate", "unknown command /frobnicate (type /help for the list)")
        assertError("/image", "usage: /image PATH…")
        assertError("/set temp", "usage: /set temp|top_p|top_k|seed|max_tokens VALUE")
        assertError("/set warmth 1", "invalid value 'warmth' for /set: expected one of temp, top_p, top_k, seed, max_tokens")
        assertError("/set top_p 1.5", "invalid value '1.5' for top_p: expected a number in (0, 1]")
        assertError("/set top_k 2.5", "invalid value '2.5' for top_k: expected an integer in 0…1000000000 (0 = off)")
        // found by the repl fuzz target: these crashed converting to Int (top_k when set, seed when echoed)
        assertError("/set top_k 1e300", "invalid value '1e300' for top_k: expected an integer in 0…1000000000 (0 = off)")
        assertError("/set seed 09223372036854775807", "invalid value '09223372036854775807' for seed: expected an integer in 0…2^53")
        assertError("/set max_tokens 0", "invalid value '0' for max_tokens: expected an integer ≥ 1")
        assertError("/segment", "usage: /segment X,Y[,1|0] [X,Y[,1|0]]… [box=X0,Y0,X1,Y1]  or  /segment everything")
        assertError("/segment all", "usage: /segment X,Y[,1|0] [X,Y[,1|0]]… [box=X0,Y0,X1,Y1]  or  /segment everything")
        assertError("/segment 1", "malformed point '1': expected X,Y or X,Y,LABEL with LABEL 1 (positive) or 0 (negative)")
        assertError("/segment 1,2,7", "malformed point '1,2,7': label '7' must be 1 (positive) or 0 (negative)")
        assertError("/segment box=1,2,3", "malformed box '1,2,3': expected X0,Y0,X1,Y1")
        assertError("/segment box=0,0,5,5 box=1,1,4,4", "invalid value 'box=1,1,4,4' for /segment: expected at most one box=X0,Y0,X1,Y1")
        assertError("/save", "usage: /save FILE")
    }

    private func assertError(_ line: String, _ message: String, file: StaticString = #filePath, line l: UInt = #line) {
        XCTAssertThrowsError(try ReplParser.parse(line), file: file, line: l) { XCTAssertEqual("\($0)", message, file: file, line: l) }
    }

    func testMultilineInput() {
        var m = MultilineAssembler()
        XCTAssertEqual(m.feed("plain"), "plain")
        XCTAssertNil(m.feed("first \\"))
        XCTAssertTrue(m.isContinuing)
        XCTAssertEqual(m.feed("second"), "first \nsecond")
        XCTAssertNil(m.feed("\"\"\""))
        XCTAssertNil(m.feed("line one"))
        XCTAssertNil(m.feed("  /not a command"))
        XCTAssertEqual(m.feed("\"\"\""), "line one\n  /not a command")
        XCTAssertFalse(m.isContinuing)
    }
}
