import XCTest
@testable import PrismIO

/// Names read from files go into one-line errors: control characters escaped, long names cut (found by the
/// gguf and safetensors_index fuzz targets: a key or shard name holding a newline broke the error over lines).
final class QuotingTests: XCTestCase {
    func testControlCharactersAreEscaped() {
        XCTAssertEqual(quoted("blk.0.attn_q"), "'blk.0.attn_q'")
        XCTAssertEqual(quoted("a\nb\tc\u{0}d'e\\"), #"'a\nb\tc\u{0}d\'e\\'"#)
        XCTAssertEqual(quoted(String(repeating: "x", count: 200), limit: 4), "'xxxx…'")
    }

    func testGGUFKeyWithANewlineGivesOneLine() throws {
        // header: magic, version 3, 0 tensors, 1 key "a\nb" of unknown value type 99
        var bytes = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        u32(3); u64(0); u64(1); u64(3); bytes += Array("a\nb".utf8); u32(99)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("quoting-\(getpid()).gguf")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try GGUFFile(path: url.path)) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), text)
            XCTAssertTrue(text.hasPrefix(url.path + ": "), text)
            XCTAssertTrue(text.contains(#"'a\nb'"#), text)
        }
    }
}
