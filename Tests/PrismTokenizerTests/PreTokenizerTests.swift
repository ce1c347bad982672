import Foundation
import PrismTestSupport
@testable import PrismTokenizer
import XCTest

/// Sources/PrismTokenizer/PreTokenizer.swift against tiktoken's own regex engine (Tools/reference/tokenizer_fixtures.py).
final class PreTokenizerTests: XCTestCase {
    struct Splits: Decodable {
        struct Case: Decodable { let text: String; let pieces: [String] }
        let cases: [Case]
    }

    struct Classes: Decodable {
        let ranges: [String: [[UInt32]]]
    }

    func testSplitsMatchTiktoken() throws {
        let data = try Data(contentsOf: fixtureURL("splits.json"))
        let splits = try JSONDecoder().decode(Splits.self, from: data)
        XCTAssertGreaterThan(splits.cases.count, 150)
        for c in splits.cases {
            XCTAssertEqual(PreTokenizer.pieces(c.text), c.pieces, "text \(c.text.debugDescription)")
        }
    }

    func testKnownSplits() {
        XCTAssertEqual(PreTokenizer.pieces("Hello world's 12345 你好world!!\n\n  x"),
                       ["Hello", " world's", " ", "123", "45", " ", "你好", "world", "!!\n\n", " ", " x"])
        XCTAssertEqual(PreTokenizer.pieces("WE'LL don'T"), ["WE'LL", " don'T"])
        XCTAssertEqual(PreTokenizer.pieces("a  \n"), ["a", "  \n"])
        XCTAssertEqual(PreTokenizer.pieces("a   "), ["a", "   "])
        XCTAssertEqual(PreTokenizer.pieces(""), [])
    }

    /// Every code point's classes equal the sets tiktoken's engine matches for each class in the pattern.
    func testCharacterClassesMatchTiktokenOnAllCodePoints() throws {
        let data = try Data(contentsOf: fixtureURL("unicode_classes.json"))
        let classes = try JSONDecoder().decode(Classes.self, from: data)
        let bits: [String: CharClass] = ["han": .han, "letter": .letter, "number": .number, "space": .space,
                                         "upper": .upper, "lower": .lower]
        XCTAssertEqual(Set(classes.ranges.keys), Set(bits.keys))
        let actual = (UInt32(0)..<0x110000).map { (0xD800..<0xE000).contains($0) ? UInt8(0) : CharClass.of($0) }
        for (name, bit) in bits {
            var expected = [Bool](repeating: false, count: 0x110000)
            for r in classes.ranges[name]! { for v in r[0]...r[1] { expected[Int(v)] = true } }
            var mismatches: [String] = []
            for v in 0..<0x110000 where !(0xD800..<0xE000).contains(v) {
                if (actual[v] & bit.rawValue != 0) != expected[v] { mismatches.append(String(format: "U+%04X", v)) }
            }
            XCTAssertTrue(mismatches.isEmpty, "\(name): \(mismatches.count) mismatches, first \(mismatches.prefix(10))")
        }
    }
}
