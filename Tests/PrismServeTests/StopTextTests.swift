import Foundation
@testable import PrismServe
import XCTest

final class StopTextTests: XCTestCase {
    /// Pieces arrive token by token; nothing of a stop string (or after it) is ever sent, and text that turned out
    /// not to start one is sent once it is known.
    func testHoldsBackPossibleStartsAndCutsAtTheFirstStop() {
        var s = StopText(["END", "xyz"])
        XCTAssertEqual(s.append("hello E"), "hello ")
        XCTAssertEqual(s.append("N"), "")
        XCTAssertEqual(s.append("vy "), "ENvy ")
        XCTAssertEqual(s.append("and x"), "and ")
        XCTAssertEqual(s.append("yzzz tail"), "")
        XCTAssertTrue(s.stopped)
        XCTAssertEqual(s.append("more"), "")
        XCTAssertEqual(s.finish(), "")
        XCTAssertEqual(s.answer, "hello ENvy and ")
    }

    func testEarliestStopWinsAndFinishFlushes() {
        var s = StopText(["b", "abc"])
        XCTAssertEqual(s.append("xxab"), "xxa")
        XCTAssertTrue(s.stopped)
        var t = StopText(["abc"])
        XCTAssertEqual(t.append("zzab"), "zz")
        XCTAssertEqual(t.finish(), "ab")
        XCTAssertEqual(t.answer, "zzab")
        var none = StopText([])
        XCTAssertEqual(none.append("abc"), "abc")
    }
}

final class JSONStringTests: XCTestCase {
    /// The hand-written stream-delta escaping decodes back to the text, whatever characters a model emits.
    func testEscapedStringsDecodeToTheOriginal() throws {
        for text in ["plain", "quote \" and backslash \\", "line\nbreak\ttab\r", "\u{0}\u{1}\u{1F}", "é ☆ 🧊 \u{2028}", ""] {
            let json = "[" + jsonString(text) + "]"
            let back = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String]
            XCTAssertEqual(back, [text])
        }
    }
}
