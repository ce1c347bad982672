import XCTest
@testable import PrismData

final class SchemaTests: XCTestCase {
    func testSummaryOfTheTensorFlowFixtures() throws {
        let summary = try inspectTFRecords([fixture("tf_examples.tfrecord.gz"), fixture("tf_sequence.tfrecord")])
        XCTAssertEqual(summary.records, 7)
        XCTAssertEqual(summary.sequenceRecords, 2)
        XCTAssertEqual(summary.files.map(\.compression), [.gzip, .none])
        XCTAssertEqual(summary.files.map(\.records), [5, 2])
        let byKey = Dictionary(uniqueKeysWithValues: summary.features.map { ($0.key, $0) })
        let image = try XCTUnwrap(byKey["image/encoded"])
        XCTAssertEqual(image.kinds, [.bytes])
        XCTAssertEqual(image.present, 2)
        XCTAssertNil(image.image)   // one JPEG, one PNG: no single format
        XCTAssertEqual(image.samples.count, 2)
        XCTAssertTrue(image.samples[0].hasPrefix("<jpeg, "))
        let xmin = try XCTUnwrap(byKey["image/object/bbox/xmin"])
        XCTAssertEqual([xmin.minValues, xmin.maxValues, xmin.totalValues], [2, 2, 2])
        XCTAssertEqual(xmin.samples, ["0.1", "0.5"])
        XCTAssertEqual(byKey["image/object/class/text"]?.samples, ["\"cat\"", "\"chât 猫\""])
        XCTAssertEqual(byKey["f004"]?.samples, ["0", "1", "2"])
        XCTAssertEqual(summary.featureLists.map(\.key), ["frames/score", "frames/token"])
        XCTAssertEqual(summary.featureLists.first?.present, 3)
    }

    func testImageFormatDetected() throws {
        let directory = try TemporaryDirectory()
        let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2]
        let path = try writeRecords((0 ..< 3).map { _ in Example(["img": .bytes([jpeg]), "n": .int64s([1, 2])]).serialized() },
                                    to: directory.file("a.tfrecord"))
        let summary = try inspectTFRecords([path])
        XCTAssertEqual(summary.features.first { $0.key == "img" }?.image, .jpeg)
        XCTAssertNil(summary.features.first { $0.key == "n" }?.image)
        let json = try JSONEncoder().encode(summary)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains("\"min_values\":2"))
    }

    func testInvalidPayloadStopsOrIsListed() throws {
        let directory = try TemporaryDirectory()
        let good = Example(["a": .int64s([1])]).serialized()
        let path = try writeRecords([good, [0xFF, 0xFF], good], to: directory.file("a.tfrecord"))
        XCTAssertThrowsError(try inspectTFRecords([path])) { error in
            XCTAssertEqual((error as? TFRecordError)?.location, RecordLocation(file: path, record: 1, offset: UInt64(good.count + 16)))
        }
        let summary = try inspectTFRecords([path], skipCorrupt: true)
        XCTAssertEqual(summary.records, 2)
        XCTAssertEqual(summary.skipped.count, 1)
    }
}
