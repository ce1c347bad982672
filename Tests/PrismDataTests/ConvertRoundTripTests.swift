// TFRecord → JSONL → TFRecord on files TensorFlow wrote (Tools/reference/tfrecord_roundtrip.py generate): Object
// Detection records, empty lists of every kind, int64 and float32 extremes, NaN and infinities, non-UTF-8 bytes,
// UTF-8 keys and text, tf.SequenceExamples. The same script's `check` mode has TensorFlow parse the result.
import XCTest
@testable import PrismData

final class ConvertRoundTripTests: XCTestCase {
    let inputs = ["roundtrip_examples.tfrecord", "roundtrip_sequence.tfrecord", "tf_examples.tfrecord", "tf_sequence.tfrecord"]

    func testRoundTripGivesBackEveryRecordExactly() throws {
        for name in inputs {
            let directory = try TemporaryDirectory()
            let input = fixture(name)
            let jsonl = try convertTFRecordsToJSONL([input], in: directory.file("jsonl"), options: ConvertOptions())
            let back = try convertJSONL(jsonl.outputs, toShardsIn: directory.file("back"), options: ConvertOptions())
            XCTAssertEqual(try readPayloads(back.outputs[0]).map(canonical), try readPayloads(input).map(canonical), name)
            try checkRows(jsonl.outputs[0], against: input)
        }
    }

    /// Every row of the JSONL holds the record's values as the schema describes them.
    func checkRows(_ jsonl: String, against input: String) throws {
        let schema = try JSONLSchema.read(JSONLSchema.path(forJSONL: jsonl))
        let folder = (jsonl as NSString).deletingLastPathComponent
        let rows = String(decoding: readBytes(jsonl), as: UTF8.self).split(separator: "\n")
        let records = try readPayloads(input).map { try SequenceExample(serialized: $0) }
        XCTAssertEqual(rows.count, records.count)
        XCTAssertEqual(schema.records, records.count)
        for (row, record) in zip(rows, records) {
            guard case .object(let members) = try Array(row.utf8).withUnsafeBytes({ try JSONReader.parse($0) }) else { return XCTFail() }
            let sequence = schema.recordType == .sequenceExample
            var context = members, lists: [(key: String, value: JSONValue)] = []
            if sequence {
                guard case .object(let c)? = members.first(where: { $0.key == "context" })?.value,
                      case .object(let l)? = members.first(where: { $0.key == "feature_lists" })?.value else { return XCTFail(String(row)) }
                context = c
                lists = l
            }
            XCTAssertEqual(context.count, record.context.count)
            for (name, value) in context {
                let column = try XCTUnwrap(schema.column(name, in: .context), name)
                let feature = try XCTUnwrap(record.context[column.tfKey], name)
                try check(value, feature, column, folder: folder)
            }
            XCTAssertEqual(lists.count, record.featureLists.count)
            for (name, value) in lists {
                let column = try XCTUnwrap(schema.column(name, in: .featureList), name)
                guard case .array(let steps) = value, let features = record.featureLists[column.tfKey] else { return XCTFail(name) }
                XCTAssertEqual(steps.count, features.count)
                for (step, feature) in zip(steps, features) { try check(step, feature, column, folder: folder) }
            }
        }
    }

    func check(_ value: JSONValue, _ feature: Feature, _ column: JSONLSchema.Column, folder: String) throws {
        guard case .array(let items) = value else { return XCTFail("\(column.name) is not a list") }
        XCTAssertEqual(items.count, feature.count, column.name)
        XCTAssertEqual(column.kind, feature.kind, column.name)
        switch feature {
        case .int64s(let values):
            XCTAssertEqual(items, values.map { .number(String($0)) }, column.name)
        case .floats(let values):
            for (item, value) in zip(items, values) {
                guard case .number(let literal) = item else { return XCTFail(column.name) }
                let read: Float = literal == "NaN" ? .nan : literal == "Infinity" ? .infinity : literal == "-Infinity" ? -.infinity : Float(literal)!
                XCTAssertTrue(read.bitPattern == value.bitPattern || (read.isNaN && value.isNaN), "\(column.name): \(literal)")
                XCTAssertTrue(literal.contains { ".eNI".contains($0) }, "\(column.name): \(literal) reads as an integer")
            }
        case .bytes(let values):
            for (item, value) in zip(items, values) {
                guard case .string(let text) = item else { return XCTFail(column.name) }
                if column.imageFiles == true {
                    XCTAssertEqual(readBytes(folder + "/" + text), value, text)
                } else if column.bytesEncoding == .base64 {
                    XCTAssertEqual(Data(base64Encoded: text).map { [UInt8]($0) }, value, column.name)
                } else {
                    XCTAssertEqual(Array(text.utf8), value, column.name)
                }
            }
        }
    }

    func testTheSchemaOfTheObjectDetectionRecords() throws {
        let directory = try TemporaryDirectory()
        _ = try convertTFRecordsToJSONL([fixture("roundtrip_examples.tfrecord")], in: directory.path, options: ConvertOptions())
        let schema = try JSONLSchema.read(directory.file("data.schema.json"))
        XCTAssertEqual(schema.recordType, .example)
        XCTAssertEqual(schema.records, 4)
        let byName = Dictionary(uniqueKeysWithValues: schema.columns.map { ($0.name, $0) })
        XCTAssertEqual(Array(schema.columns.map(\.name).prefix(6)), ["image", "format", "height", "width", "filename", "source_id"])
        XCTAssertEqual(byName["image"]?.imageFiles, true)
        XCTAssertEqual(byName["masks"]?.imageFiles, true)
        XCTAssertEqual(byName["xmin"]?.kind, .float)
        XCTAssertEqual(byName["xmin"]?.fixedLength, nil)               // 2 boxes, then none
        XCTAssertEqual(byName["xmin"].map { [$0.minLength, $0.maxLength, $0.present] }, [0, 2, 2])
        XCTAssertEqual(byName["height"]?.fixedLength, 1)
        XCTAssertEqual(byName["labels"]?.kind, .int64)
        XCTAssertEqual(byName["classes"]?.bytesEncoding, .utf8)
        XCTAssertEqual(byName["binary"]?.bytesEncoding, .base64)
        XCTAssertEqual(byName["no_kind"]?.kind, .bytes)
        XCTAssertEqual(byName["ключ/ü"]?.tfKey, "ключ/ü")
        XCTAssertEqual(byName["image/object/difficult"]?.tfKey, "image/object/difficult")
        // The masks are PNG files beside the JSONL, in the record's order.
        XCTAssertEqual(filesUnder(directory.file("images")).filter { $0.contains("masks") },
                       ["data/roundtrip_examples-000000-masks-0.png", "data/roundtrip_examples-000000-masks-1.png"])
    }
}
