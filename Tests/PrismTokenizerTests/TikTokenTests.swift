import Foundation
import PrismIO
import PrismTestSupport
@testable import PrismTokenizer
import XCTest

/// Sources/PrismTokenizer/TikToken.swift against encodings made by the `tiktoken` library
/// (Tools/reference/tokenizer_fixtures.py writes Fixtures/tiny).
final class TikTokenTests: XCTestCase {
    static let tokenizer = try! TikTokenizer(directory: fixtureURL("tiny"))

    struct Expected: Decodable {
        struct Case: Decodable {
            let text: String
            let allowSpecial: Bool
            let ids: [Int]
            enum CodingKeys: String, CodingKey { case text, allowSpecial = "allow_special", ids }
        }
        let numBaseTokens: Int
        let specialTokens: [String: Int]
        let cases: [Case]
        enum CodingKeys: String, CodingKey { case numBaseTokens = "num_base_tokens", specialTokens = "special_tokens", cases }
    }

    static let expected = try! JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtureURL("tiny/expected.json")))

    func testKnownEncodingsFromTiktoken() {
        let t = TikTokenTests.tokenizer
        let e = TikTokenTests.expected
        XCTAssertEqual(t.numBaseTokens, e.numBaseTokens)
        XCTAssertGreaterThan(e.cases.count, 200)
        for c in e.cases {
            let ids = t.encode(c.text, allowSpecial: c.allowSpecial)
            if ids != c.ids {
                let firstDiff = zip(ids, c.ids).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ids.count, c.ids.count)
                XCTFail("text \(c.text.prefix(80).debugDescription) (\(c.text.count) chars): first difference at \(firstDiff)")
            }
            XCTAssertEqual(t.decode(c.ids), c.text)
        }
    }

    func testSpecialTokensAtKimiOffsets() {
        let t = TikTokenTests.tokenizer
        let n = t.numBaseTokens
        XCTAssertEqual(t.vocabularySize, n + 258)
        XCTAssertEqual(t.specialTokens.count, 258)
        for (name, id) in TikTokenTests.expected.specialTokens { XCTAssertEqual(t.specialTokenID(name), id, name) }
        let offsets = ["[BOS]": 0, "[EOS]": 1, "<|im_end|>": 2, "<|im_user|>": 3, "<|im_assistant|>": 4,
                       "<|start_header_id|>": 6, "<|end_header_id|>": 7, "[EOT]": 9, "<|im_system|>": 10,
                       "<|im_middle|>": 17, "<|media_start|>": 18, "<|media_content|>": 19, "<|media_end|>": 20,
                       "<|media_pad|>": 21]
        for (name, offset) in offsets { XCTAssertEqual(t.specialTokenID(name), n + offset, name) }
        XCTAssertEqual(t.specialTokenID("<|reserved_token_\(n + 5)|>"), n + 5)
        XCTAssertEqual(t.specialTokenID("<|reserved_token_\(n + 257)|>"), n + 257)
        XCTAssertNil(t.specialTokenID("<|reserved_token_\(n + 258)|>"))
        XCTAssertNil(t.specialTokenID("<|im_start|>"))   // Kimi-VL has none
        XCTAssertTrue(t.isSpecial(n + 2))
        XCTAssertFalse(t.isSpecial(n - 1))
    }

    func testSpecialTokensInTextAllowedOrPlain() {
        let t = TikTokenTests.tokenizer
        let end = t.specialTokenID("<|im_end|>")!
        XCTAssertEqual(t.encode("<|im_end|>"), [end])
        XCTAssertEqual(t.encode("a<|im_end|>b"), t.encode("a") + [end] + t.encode("b"))
        let plain = t.encode("<|im_end|>", allowSpecial: false)
        XCTAssertFalse(plain.contains(end))
        XCTAssertEqual(t.decode(plain), "<|im_end|>")
        XCTAssertEqual(t.decode([end, t.specialTokenID("<|media_pad|>")!]), "<|im_end|><|media_pad|>")
        XCTAssertEqual(t.encode("<|im_end"), t.encode("<|im_end", allowSpecial: false))
    }

    func testDecodeUnknownIDIsReplacement() {
        let t = TikTokenTests.tokenizer
        XCTAssertEqual(t.decode([t.vocabularySize, -1]), "\u{FFFD}\u{FFFD}")
        XCTAssertNil(t.tokenBytes(t.vocabularySize))
    }

    func testRoundTripRandomText() {
        let t = TikTokenTests.tokenizer
        var rng = SplitMix(seed: 42)
        for i in 0..<600 {
            let text = randomText(&rng, length: Int(rng.next() % 60))
            XCTAssertEqual(t.decode(t.encode(text)), text, "case \(i)")
            XCTAssertEqual(t.decode(t.encode(text, allowSpecial: false)), text, "case \(i)")
        }
        // with special tokens spliced in
        for _ in 0..<100 {
            let text = randomText(&rng, length: 10) + "<|im_user|>" + randomText(&rng, length: 10) + "[EOS]"
            let ids = t.encode(text)
            XCTAssertEqual(ids.filter(t.isSpecial).count, 2)
            XCTAssertEqual(t.decode(ids), text)
        }
    }

    /// Python-side chunking: a 25 001st consecutive non-space character starts a new piece.
    func testChunkingLikeTokenizationMoonshot() {
        let text = String(repeating: "a", count: 25_001) + " b"
        var copy = text
        let chunks = copy.withUTF8 { TikTokenizer.chunks($0) }
        XCTAssertEqual(chunks, [0..<25_000, 25_000..<25_003])
        XCTAssertTrue(TikTokenizer.pythonIsSpace(0x1C))
        XCTAssertFalse(TikTokenizer.pythonIsSpace(0x200B))
    }

    /// The heap-based merge used for long pieces makes exactly tiktoken's merges (the scanning loop's).
    func testHeapMergeEqualsScanningMerge() {
        let t = TikTokenTests.tokenizer
        var rng = SplitMix(seed: 17)
        let words = Array(TikTokenTests.expected.cases.prefix(60).map(\.text).joined().utf8)
        for trial in 0..<300 {
            let len = 2 + Int(rng.next() % 200)
            var bytes: [UInt8]
            switch trial % 3 {
            case 0: bytes = (0..<len).map { _ in words[Int(rng.next() % UInt64(words.count))] }
            case 1: let s = Int(rng.next() % UInt64(words.count - len)); bytes = Array(words[s..<(s + len)])
            default: bytes = (0..<len).map { _ in [UInt8(ascii: "a"), UInt8(ascii: "b"), 0x20][Int(rng.next() % 3)] }
            }
            bytes.withUnsafeBufferPointer { b in
                XCTAssertEqual(t.mergeWithHeap(b.baseAddress!, b.count), t.mergeByScanning(b.baseAddress!, b.count),
                               "bytes \(bytes)")
            }
        }
    }

    // MARK: - Loading errors

    private func writeModel(_ lines: [String], config: String? = nil) -> URL {
        let dir = temporaryDirectory("prism-tok")
        let base = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        try! (base + lines).joined(separator: "\n").write(to: dir.appendingPathComponent("tiktoken.model"), atomically: true, encoding: .utf8)
        try! (config ?? #"{"added_tokens_decoder": {"258": {"content": "[EOS]", "special": true}}}"#)
            .write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        return dir
    }

    func testMinimalModelLoads() throws {
        let dir = writeModel(["YWI= 256", "YWJj 257"])
        let t = try TikTokenizer(directory: dir)
        XCTAssertEqual(t.numBaseTokens, 258)
        XCTAssertEqual(t.encode("abc"), [257])
        XCTAssertEqual(t.encode("abd"), [256, 100])
        XCTAssertEqual(t.specialTokenID("[EOS]"), 258)
        XCTAssertEqual(t.specialTokenID("<|reserved_token_259|>"), 259)
    }

    func testMalformedModelErrorsNameFileAndLine() {
        func check(_ lines: [String], _ message: (String) -> String) {
            let dir = writeModel(lines)
            let path = dir.appendingPathComponent("tiktoken.model").path
            assertThrowsMessage(message(path)) { try TikTokenizer(directory: dir) }
        }
        check(["YWI= 256", "!!!= 257"]) { "\($0):258: invalid base64 '!!!='" }
        check(["YWI 256"]) { "\($0):257: invalid base64 'YWI'" }
        check(["YWI= 256", "YWJj"]) { "\($0):258: missing rank after 'YWJj'" }
        check(["YWI= 256 7"]) { "\($0):257: expected 'base64 rank', found 3 fields" }
        check(["YWI= x"]) { "\($0):257: rank 'x' is not a non-negative integer" }
        check(["YWI= 256", "YWJj 256"]) { "\($0):258: duplicate rank 256 (also on line 257)" }
        check(["YWI= 256", "YWI= 257"]) { "\($0):258: duplicate token 'YWI=' (also on line 257)" }
        check(["YWI= 300"]) { "\($0): ranks must be 0..<257 without gaps; rank 256 is missing" }
    }

    func testModelWithoutAllSingleBytes() throws {
        let dir = temporaryDirectory("prism-tok")
        try "QQ== 0\n".write(to: dir.appendingPathComponent("tiktoken.model"), atomically: true, encoding: .utf8)
        try "{}".write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("tiktoken.model").path
        assertThrowsMessage("\(path): no token for the single byte 0x00 (byte-level BPE needs all 256)") {
            try TikTokenizer(directory: dir)
        }
    }

    func testMissingFilesAndBadConfig() {
        let dir = temporaryDirectory("prism-tok")
        assertThrowsMessage("\(dir.path)/tiktoken.model: file not found") { try TikTokenizer(directory: dir) }
        let bad = writeModel([], config: #"{"added_tokens_decoder": {"x": {"content": "[EOS]"}}}"#)
        assertThrowsMessage("\(bad.path)/tokenizer_config.json: key 'added_tokens_decoder.x': not a token id") {
            try TikTokenizer(directory: bad)
        }
        let clash = writeModel([], config: #"{"added_tokens_decoder": {"256": {"content": "[EOS]"}, "257": {"content": "[EOS]"}}}"#)
        assertThrowsMessage("\(clash.path)/tokenizer_config.json: key 'added_tokens_decoder.257': '[EOS]' is already the name of id 256") {
            try TikTokenizer(directory: clash)
        }
    }

    /// A tiktoken.model cut short (at a line boundary, past the 256 single bytes) moves the special ids below tokenizer_config.json's names;
    /// on main the names were dropped silently and the chat template got the blame for the missing media pad.
    func testTruncatedModelIsBlamedOnItself() throws {
        let dir = temporaryDirectory("prism-tok")
        let lines = try String(contentsOf: fixtureURL("tiny/tiktoken.model"), encoding: .utf8).split(separator: "\n")
        try (lines.prefix(300).joined(separator: "\n") + "\n")
            .write(to: dir.appendingPathComponent("tiktoken.model"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(at: fixtureURL("tiny/tokenizer_config.json"), to: dir.appendingPathComponent("tokenizer_config.json"))
        assertThrowsMessage("\(dir.path)/tiktoken.model: 300 tokens put the special ids at 300..<558, but tokenizer_config.json "
                            + "names id 656 ('[BOS]'): the files do not match (truncated or wrong tiktoken.model?)") {
            try TikTokenizer(directory: dir)
        }
    }

    // MARK: - Throughput (informative; debug builds are much slower than release)

    func testEncodeThroughput() {
        let t = TikTokenTests.tokenizer
        var rng = SplitMix(seed: 5)
        let base = TikTokenTests.expected.cases.prefix(200).map(\.text).joined(separator: "\n")
        var text = ""
        while text.utf8.count < 1 << 18 { text += base + randomText(&rng, length: 200) }
        let start = Date()
        let ids = t.encode(text)
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "encode: %.2f MB/s (%d bytes → %d tokens, %.3f s)",
                     Double(text.utf8.count) / seconds / 1e6, text.utf8.count, ids.count, seconds))
        XCTAssertEqual(t.decode(ids), text)
    }
}
