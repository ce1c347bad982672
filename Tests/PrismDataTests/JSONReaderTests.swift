// The strict JSON reader: numbers kept as written, every error with its column, no input that can crash it.
import XCTest
@testable import PrismData

final class JSONReaderTests: XCTestCase {
    func parse(_ text: String) throws -> JSONValue {
        try Array(text.utf8).withUnsafeBytes { try JSONReader.parse($0) }
    }

    func error(_ text: String) -> String? {
        do { _ = try parse(text); return nil } catch { return (error as? JSONSyntaxError)?.description ?? "\(error)" }
    }

    func testNumbersKeepTheirLiterals() throws {
        XCTAssertEqual(try parse("[99999999999999999999999, -0, 1.50, 1e39, 2E-3, NaN, Infinity, -Infinity]"),
                       .array(["99999999999999999999999", "-0", "1.50", "1e39", "2E-3", "NaN", "Infinity", "-Infinity"].map(JSONValue.number)))
        XCTAssertEqual(try parse(" {\"a\" : [true, false, null, \"x\"]} "),
                       .object([("a", .array([.bool(true), .bool(false), .null, .string("x")]))]))
    }

    func testStringEscapesAndUTF8() throws {
        XCTAssertEqual(try parse(#""q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud834\udd1e \u0000 猫""#),
                       .string("q\" b\\ s/ \u{8}\u{C}\n\r\t é 𝄞 \u{0} 猫"))
        XCTAssertEqual(try ([0xEF, 0xBB, 0xBF] + Array("[1]".utf8)).withUnsafeBytes { try JSONReader.parse($0) }, .array([.number("1")]))
    }

    func testErrorsNameTheColumn() {
        XCTAssertEqual(error("{\"a\": 1,}"), "invalid JSON at column 9: expected a key in quotes")
        XCTAssertEqual(error("{\"a\": 1 \"b\": 2}"), "invalid JSON at column 9: expected ',' or '}'")
        XCTAssertEqual(error("[1, 2"), "invalid JSON at column 6: unexpected end of line in a list")
        XCTAssertEqual(error("[01]"), "invalid JSON at column 3: expected ',' or ']'")
        XCTAssertEqual(error("[1.]"), "invalid JSON at column 4: a number needs digits after '.'")
        XCTAssertEqual(error("[-]"), "invalid JSON at column 3: a number needs digits")
        XCTAssertEqual(error("[+1]"), "invalid JSON at column 2: unexpected character '+'")
        XCTAssertEqual(error("[nan]"), "invalid JSON at column 2: unexpected character 'n'")
        XCTAssertEqual(error("{\"a\": 1, \"a\": 2}"), "invalid JSON at column 10: the key \"a\" appears twice")
        // a repeated key with escaped control characters stays on one line (found by the jsonl fuzz target)
        XCTAssertEqual(error("{\"a\\nb\\u0008\": 1, \"a\\nb\\u0008\": 2}"),
                       "invalid JSON at column 19: the key \"a\\nb\\u{8}\" appears twice")
        XCTAssertEqual(error("\"\\ud800\""), "invalid JSON at column 8: a lone UTF-16 surrogate")
        XCTAssertEqual(error("\"\\x\""), "invalid JSON at column 3: an unknown escape \\'x'")
        XCTAssertEqual(error("\"a\tb\""), "invalid JSON at column 3: a control character inside a string (escape it)")
        XCTAssertEqual(error("[1] x"), "invalid JSON at column 5: unexpected text after the value")
        XCTAssertEqual(error(""), "invalid JSON at column 1: empty line")
        XCTAssertEqual(try [UInt8]([0x22, 0xFF, 0x22]).withUnsafeBytes { bytes -> String? in
            do { _ = try JSONReader.parse(bytes); return nil } catch { return (error as? JSONSyntaxError)?.description }
        }, "invalid JSON at column 2: a string that is not valid UTF-8")
    }

    func testDeepNestingIsRefusedNotACrash() {
        XCTAssertEqual(error(String(repeating: "[", count: 100_000)), "invalid JSON at column 65: nested deeper than 64 levels")
        XCTAssertNil(error(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
    }

    func testRandomBytesNeverCrash() {
        var seed: UInt64 = 1
        let alphabet = Array("{}[]\",:-0123456789.eE+tfnrul\\ aNI".utf8) + [0xC3, 0xA9, 0xFF, 0x00]
        for _ in 0 ..< 20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let length = Int(seed >> 58)
            let bytes = (0 ..< length).map { i in alphabet[Int((seed >> UInt64(i % 50)) % UInt64(alphabet.count))] }
            _ = try? bytes.withUnsafeBytes { try JSONReader.parse($0) }
        }
    }
}
