import Foundation
import PrismTestSupport
@testable import PrismTokenizer
import XCTest

/// Sources/PrismTokenizer/StreamingDecoder.swift
final class StreamingDecoderTests: XCTestCase {
    static let tokenizer = try! TikTokenizer(directory: fixtureURL("tiny"))

    /// Every byte as its own token: the stream splits every character at every byte boundary.
    func testNeverEmitsReplacementForValidTextSplitAtEveryByte() {
        let t = StreamingDecoderTests.tokenizer
        let text = "héllo 你好 😀👍🏽🇯🇵 e\u{301} ∑√ 𠀀 ñ\n"
        let byteToken = byteTokenIDs(t)
        let ids = text.utf8.map { byteToken[Int($0)] }
        var d = StreamingDecoder(t)
        var out = ""
        for id in ids {
            let piece = d.append(id)
            XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}"), "emitted U+FFFD")
            out += piece
        }
        XCTAssertFalse(d.hasPending)
        out += d.finish()
        XCTAssertEqual(out, text)
    }

    /// Reserved and role tokens add no text when hidden, and stay in the plain decode's output otherwise.
    func testHidesSpecialTokens() {
        let t = StreamingDecoderTests.tokenizer
        let reserved = t.specialTokens.keys.sorted().first { $0.contains("reserved_token") }!
        let ids = t.encode("a<|im_user|>b\(reserved)c", allowSpecial: true)
        XCTAssertTrue(ids.contains { t.isSpecial($0) })
        var hidden = StreamingDecoder(t, hidingSpecialTokens: true), plain = StreamingDecoder(t)
        XCTAssertEqual(hidden.append(contentsOf: ids) + hidden.finish(), "abc")
        XCTAssertEqual(plain.append(contentsOf: ids) + plain.finish(), t.decode(ids))
        XCTAssertNotEqual(t.decode(ids), "abc")
    }

    func testStreamingEqualsDecodeOnRealEncodings() {
        let t = StreamingDecoderTests.tokenizer
        var rng = SplitMix(seed: 3)
        for _ in 0..<200 {
            let text = randomText(&rng, length: Int(rng.next() % 40))
            let ids = t.encode(text)
            var d = StreamingDecoder(t)
            var out = ""
            for id in ids {
                let piece = d.append(id)
                XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}"))
                out += piece
            }
            out += d.finish()
            XCTAssertEqual(out, text)
        }
    }

    /// Arbitrary byte tokens (invalid UTF-8 included): streaming output equals decoding everything at once.
    func testStreamingEqualsDecodeOnArbitraryBytes() {
        let t = StreamingDecoderTests.tokenizer
        let byteToken = byteTokenIDs(t)
        var rng = SplitMix(seed: 9)
        let interesting: [UInt8] = [0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        for _ in 0..<2000 {
            let ids = (0..<Int(rng.next() % 10)).map { _ in byteToken[Int(interesting[Int(rng.next() % UInt64(interesting.count))])] }
            var d = StreamingDecoder(t)
            let out = d.append(contentsOf: ids) + d.finish()
            XCTAssertEqual(out, t.decode(ids), "bytes \(ids.map { t.tokenBytes($0)!.first! })")
        }
    }

    func testFinishFlushesAnUnfinishedCharacterAsReplacement() {
        let t = StreamingDecoderTests.tokenizer
        let e4 = byteTokenIDs(t)[0xE4]
        var d = StreamingDecoder(t)
        XCTAssertEqual(d.append(e4), "")
        XCTAssertTrue(d.hasPending)
        XCTAssertEqual(d.finish(), "\u{FFFD}")
        XCTAssertFalse(d.hasPending)
    }
}
