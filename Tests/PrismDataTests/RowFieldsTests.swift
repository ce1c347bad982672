import Foundation
@testable import PrismData
import XCTest

/// A row's columns read the same way from JSONL (scalars or lists of one, relative image paths) and tf.Example.
final class RowFieldsTests: XCTestCase {
    var dir: TemporaryDirectory!
    override func setUpWithError() throws { dir = try TemporaryDirectory() }
    override func tearDown() { dir = nil }

    func rows(_ lines: [String], file: String = "sub/rows.jsonl") throws -> [RowFields] {
        let path = dir.path + "/" + file
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let files = try RecordFiles(jsonl: [path])
        var out: [RowFields] = []
        var skipped: [TFRecordError] = []
        try files.forEach(in: 0..<files.total, skipped: &skipped) { out.append(try RowFields($0, in: files)) }
        return out
    }

    func testJSONLScalarsListsOfOneAndPaths() throws {
        let r = try rows([#"{"q": "what?", "l": ["why?"], "id": 12345678901234567890, "s": "a\"b\n", "img": "x.png", "imgs": ["/abs/y.jpg", "z/w.png"], "pts": [[1, 2], [3, 4, 0]], "box": [1, 2.5, 3, 4], "n": null}"#])[0]
        XCTAssertEqual(r.location, dir.path + "/sub/rows.jsonl:1")
        XCTAssertEqual(try r.text("q"), "what?")
        XCTAssertEqual(try r.text("l"), "why?")
        XCTAssertNil(try r.text("n"), "null reads as absent")
        XCTAssertNil(try r.text("nothing"))
        XCTAssertFalse(r.has("n"))
        XCTAssertTrue(r.has("q"))
        XCTAssertEqual(try r.scalarJSON("id"), "12345678901234567890", "the literal as written, not via a double")
        XCTAssertEqual(try r.scalarJSON("s"), #""a\"b\n""#)
        XCTAssertEqual(try r.scalarJSON("l"), #""why?""#)
        XCTAssertEqual(try r.images("img"), [.file(dir.path + "/sub/x.png")], "relative to the JSONL file's folder")
        XCTAssertEqual(try r.images("imgs"), [.file("/abs/y.jpg"), .file(dir.path + "/sub/z/w.png")])
        XCTAssertEqual(try r.numberLists("pts"), [[1, 2], [3, 4, 0]])
        XCTAssertEqual(try r.numberLists("box"), [[1, 2.5, 3, 4]])
        XCTAssertEqual(try r.numbers("pts"), [1, 2, 3, 4, 0])
    }

    func testWrongKindsNameTheKeyAndLine() throws {
        let r = try rows(["", #"{"q": 3, "two": ["a", "b"], "img": 7, "pts": [[1, "x"]], "obj": {"a": 1}, "nl": [["a\nb"]]}"#, "  "])
        XCTAssertEqual(r.count, 1, "blank lines are not rows")
        let at = dir.path + "/sub/rows.jsonl:2"
        func message(_ body: () throws -> Any?) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message { try r[0].text("q") }, "\(at): \"q\": expected text, found 3")
        XCTAssertEqual(message { try r[0].text("two") }, "\(at): \"two\": expected text, found a list")
        XCTAssertEqual(message { try r[0].images("img") }, "\(at): \"img\": expected an image path, found 7")
        XCTAssertEqual(message { try r[0].numberLists("pts") }, "\(at): \"pts\": expected a number, found \"x\"")
        // a found string with an escaped newline stays on one line
        XCTAssertEqual(message { try r[0].numberLists("nl") }, "\(at): \"nl\": expected a number, found \"a\\nb\"")
        XCTAssertEqual(message { try r[0].scalarJSON("obj") }, "\(at): \"obj\": expected a string or a number, found an object")
    }

    func testNonObjectAndBrokenLinesAreRowErrors() throws {
        let path = dir.path + "/bad.jsonl"
        try Data("[1, 2]\n{\"a\": \n".utf8).write(to: URL(fileURLWithPath: path))
        let files = try RecordFiles(jsonl: [path])
        var errors: [String] = []
        var skipped: [TFRecordError] = []
        try files.forEach(in: 0..<2, skipped: &skipped) { record in
            XCTAssertThrowsError(try RowFields(record, in: files)) { errors.append("\($0)") }
        }
        XCTAssertEqual(errors, ["\(path):1: a line must be a JSON object, found a list", "\(path):2: invalid JSON at column 7: unexpected end of line"])
    }

    func testTFExampleFields() throws {
        let path = dir.path + "/rows.tfrecord"
        let writer = try TFRecordWriter(path: path)
        try writer.write(Example(["question": .strings(["what?"]), "id": .int64s([42]), "image/encoded": .bytes([[1, 2, 3], [4]]),
                                  "box": .floats([1, 2, 3, 4]), "name": .strings(["n\"1"]), "many": .strings(["a", "b"])]))
        try writer.close()
        let files = try RecordFiles(tfrecords: [path])
        var skipped: [TFRecordError] = []
        try files.forEach(in: 0..<1, skipped: &skipped) { record in
            let r = try RowFields(record, in: files)
            XCTAssertEqual(r.location, "\(path): record 0")
            XCTAssertEqual(try r.text("question"), "what?")
            XCTAssertEqual(try r.scalarJSON("id"), "42")
            XCTAssertEqual(try r.scalarJSON("name"), #""n\"1""#)
            XCTAssertEqual(try r.images("image/encoded"), [.encoded([1, 2, 3], name: "\(path): record 0: image/encoded[0]"),
                                                         .encoded([4], name: "\(path): record 0: image/encoded[1]")])
            XCTAssertEqual(try r.numberLists("box"), [[1, 2, 3, 4]])
            XCTAssertThrowsError(try r.text("many")) {
                XCTAssertEqual("\($0)", "\(path): record 0: \"many\": expected one text value, found 2 bytes values")
            }
            XCTAssertThrowsError(try r.numbers("question")) {
                XCTAssertEqual("\($0)", "\(path): record 0: \"question\": expected numbers, found bytes values")
            }
        }
    }

    func testJSONQuotedEscapesAsTheWriterDoes() {
        XCTAssertEqual(jsonQuoted("a\"\\\n\t\u{1}é"), #""a\"\\\n\t\u0001é""#)
    }
}
