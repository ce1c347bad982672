// JSONL rows without a schema (written by hand or by other tools): kinds from the values, the feature map's keys
// and hints, and the errors.
import XCTest
@testable import PrismData

final class JSONLReaderTests: XCTestCase {
    func row(_ text: String, map: FeatureMap = .conventional, schema: JSONLSchema? = nil, lossy: Bool = false) throws -> SequenceExample {
        let reader = JSONLRowReader(file: "t.jsonl", map: map, schema: schema, lossy: lossy)
        var changed = 0
        let payload = try Array(text.utf8).withUnsafeBytes { try reader.payload($0, number: 7, lossyValues: &changed) }
        return try SequenceExample(serialized: payload)
    }

    func error(_ text: String) -> String? {
        do { _ = try row(text); return nil } catch { return "\(error)" }
    }

    func testKindsComeFromTheValues() throws {
        XCTAssertEqual(try row(#"{"i": [1, -2], "f": [1, 2.5], "s": ["a", {"base64": "AP8="}], "one": 3, "gone": null}"#).context, [
            "i": .int64s([1, -2]), "f": .floats([1, 2.5]), "s": .bytes([Array("a".utf8), [0, 255]]), "one": .int64s([3]),
        ])
        guard case .floats(let g)? = try row(#"{"g": [NaN, Infinity, -Infinity, "nan", "-inf"]}"#).context["g"] else { return XCTFail() }
        XCTAssertTrue(g[0].isNaN && g[3].isNaN)
        XCTAssertEqual([g[1], g[2], g[4]], [.infinity, -.infinity, -.infinity])
        XCTAssertEqual(try row(#"{"e": {"int64": []}, "t": {"float": [1]}}"#).context, ["e": .int64s([]), "t": .floats([1])])
    }

    func testTheFeatureMapNamesKeysAndKinds() throws {
        // xmin is a float column even when its values look like integers; labels an int64 one even when empty.
        XCTAssertEqual(try row(#"{"xmin": [0, 1], "labels": [], "classes": ["cat"], "tf:xmin": [5]}"#).context, [
            "image/object/bbox/xmin": .floats([0, 1]), "image/object/class/label": .int64s([]),
            "image/object/class/text": .strings(["cat"]), "xmin": .int64s([5]),
        ])
    }

    func testSequenceRows() throws {
        // Without a schema a feature list has one kind, from all its steps.
        let sequence = try row(#"{"context": {"id": ["a"]}, "feature_lists": {"s": [[1], [], [0.5, 2]], "t": [], "u": [[1], 2]}}"#)
        XCTAssertEqual(sequence, SequenceExample(context: ["id": .strings(["a"])],
                                                 featureLists: ["s": [.floats([1]), .floats([]), .floats([0.5, 2])], "t": [], "u": [.int64s([1]), .int64s([2])]]))
        // With only those two keys but feature_lists not an object it is a tf.Example with such columns.
        XCTAssertEqual(try row(#"{"context": [1], "feature_lists": [2]}"#).context, ["context": .int64s([1]), "feature_lists": .int64s([2])])
    }

    func testErrorsNameFileLineAndColumn() {
        XCTAssertEqual(error("[1]"), "t.jsonl:7: a line must be a JSON object")
        XCTAssertEqual(error(#"{"a": [1, "x"]}"#), "t.jsonl:7: \"a\": a list mixes strings and numbers")
        XCTAssertEqual(error(#"{"a": []}"#), "t.jsonl:7: \"a\": an empty list has no kind: keep the schema.json beside the file, or write {\"float\": []} etc.")
        XCTAssertEqual(error(#"{"labels": [1.5]}"#), "t.jsonl:7: \"labels\": expected an integer, found 1.5")
        XCTAssertEqual(error(#"{"a": [[1]]}"#), "t.jsonl:7: \"a\": expected values, found a list inside a list")
        XCTAssertEqual(error(#"{"a": [{"base64": "%%"}]}"#), "t.jsonl:7: \"a\": \"base64\" must hold base64 text")
        XCTAssertEqual(error(#"{"image": [3]}"#), "t.jsonl:7: \"image\": expected an image path, found 3")
        XCTAssertEqual(error(#"{"image": ["nowhere.jpg"]}"#), "t.jsonl:7: \"image\": open failed: No such file or directory (./nowhere.jpg)")
        XCTAssertEqual(error(#"{"context": {"a": [1]}, "feature_lists": {"s": 1}}"#), "t.jsonl:7: \"s\": a feature list must be a list of steps, found 1")
        XCTAssertEqual(error(#"{"context": [1], "feature_lists": {"s": []}}"#), "t.jsonl:7: \"context\": expected an object of columns, found a list")
        XCTAssertEqual(error(#"{"s": [true]}"#), "t.jsonl:7: \"s\": true is a boolean, which TFRecord features cannot hold: write 1 or 0 (--lossy does)")
        // a column name with a newline stays on one line (found by the jsonl fuzz target)
        XCTAssertEqual(error(#"{"a\nb\"c": [1, "x"]}"#), #"t.jsonl:7: "a\nb\"c": a list mixes strings and numbers"#)
    }

    func testSchemaKindsDecideEmptyListsAndBase64() throws {
        let schema = JSONLSchema(format: JSONLSchema.formatName, recordType: .example, records: 1, columns: [
            JSONLSchema.Column(name: "b", tfKey: "blob", section: .context, kind: .bytes, otherKinds: nil, fixedLength: nil,
                               minLength: 0, maxLength: 1, present: 1, minSteps: nil, maxSteps: nil, imageFiles: nil, bytesEncoding: .base64),
            JSONLSchema.Column(name: "e", tfKey: "empty", section: .context, kind: .float, otherKinds: nil, fixedLength: nil,
                               minLength: 0, maxLength: 0, present: 1, minSteps: nil, maxSteps: nil, imageFiles: nil, bytesEncoding: nil),
            JSONLSchema.Column(name: "m", tfKey: "mixed", section: .context, kind: .int64, otherKinds: [.bytes], fixedLength: nil,
                               minLength: 0, maxLength: 1, present: 1, minSteps: nil, maxSteps: nil, imageFiles: nil, bytesEncoding: nil),
        ])
        XCTAssertEqual(try row(#"{"b": ["AP8="], "e": [], "m": ["x"]}"#, schema: schema).context,
                       ["blob": .bytes([[0, 255]]), "empty": .floats([]), "mixed": .strings(["x"])])
        XCTAssertEqual(try row(#"{"m": []}"#, schema: schema).context, ["mixed": .int64s([])])
        XCTAssertThrowsError(try row(#"{"b": ["not base64!"]}"#, schema: schema)) { error in
            XCTAssertEqual("\(error)", "t.jsonl:7: \"b\": expected base64 text, found \"not base64!\"")
        }
    }
}
