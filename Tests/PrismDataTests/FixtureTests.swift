// Files written by TensorFlow and by the PyPI `tfrecord` package (Tools/reference/tfrecord_fixtures.py) read
// by Prism with exactly the features in expected.json; and the prism_* files, which that script's `verify`
// mode read back with TensorFlow and `tfrecord`, are still what Prism writes today.
import Foundation
import XCTest
@testable import PrismData

final class FixtureTests: XCTestCase {
    struct ExpectedFile {
        let name: String
        let type: String
        let compression: TFRecordCompression
        let records: [Any]
    }

    func expectedFiles() throws -> [ExpectedFile] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: fixture("expected.json")))
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = try XCTUnwrap(root["files"] as? [String: [String: Any]])
        return try files.keys.sorted().map { name in
            let file = files[name]!
            return ExpectedFile(name: name, type: try XCTUnwrap(file["type"] as? String),
                                compression: try XCTUnwrap(TFRecordCompression(rawValue: file["compression"] as? String ?? "")),
                                records: try XCTUnwrap(file["records"] as? [Any]))
        }
    }

    func feature(_ json: Any) throws -> Feature {
        let object = try XCTUnwrap(json as? [String: Any])
        let values = try XCTUnwrap(object["values"] as? [Any])
        switch object["kind"] as? String {
        case "bytes": return .bytes(try values.map { [UInt8](try XCTUnwrap(Data(base64Encoded: try XCTUnwrap($0 as? String)))) })
        case "int64": return .int64s(try values.map { try XCTUnwrap(Int64(try XCTUnwrap($0 as? String))) })
        case "float": return .floats(try values.map { Float(try XCTUnwrap(($0 as? NSNumber)?.doubleValue)) })
        default: throw XCTSkip("unknown kind in expected.json")
        }
    }

    func features(_ json: Any) throws -> [String: Feature] {
        try XCTUnwrap(json as? [String: Any]).mapValues { try feature($0) }
    }

    func example(_ json: Any) throws -> Example { Example(try features(json)) }

    func sequence(_ json: Any) throws -> SequenceExample {
        let object = try XCTUnwrap(json as? [String: Any])
        let lists = try XCTUnwrap(object["feature_lists"] as? [String: [Any]])
        return SequenceExample(context: try features(object["context"] as Any), featureLists: try lists.mapValues { try $0.map(feature) })
    }

    func readPayloads(_ path: String, compression: TFRecordCompression? = nil) throws -> [[UInt8]] {
        let reader = try TFRecordReader(path: path, compression: compression)
        var payloads: [[UInt8]] = []
        while let payload = try reader.next() { payloads.append(payload) }
        return payloads
    }

    // MARK: - Reading what TensorFlow and `tfrecord` wrote

    func testEveryFixtureReadsWithTheExpectedFeatures() throws {
        let files = try expectedFiles()
        XCTAssertEqual(files.map(\.name), ["pypi_tfrecord.tfrecord", "tf_examples.tfrecord", "tf_examples.tfrecord.gz",
                                           "tf_examples.tfrecord.zz", "tf_sequence.tfrecord", "tf_zero_length.tfrecord"])
        for file in files {
            let path = fixture(file.name)
            // Sniffed, and with the compression declared as TensorFlow would be told.
            for declared in [nil, file.compression] {
                let reader = try TFRecordReader(path: path, compression: declared)
                XCTAssertEqual(reader.compression, file.compression, file.name)
                let payloads = try readPayloads(path, compression: declared)
                XCTAssertEqual(payloads.count, file.records.count, file.name)
                for (index, (payload, expected)) in zip(payloads, file.records).enumerated() {
                    if file.type == "sequence" {
                        XCTAssertEqual(try SequenceExample(serialized: payload), try sequence(expected), "\(file.name) record \(index)")
                    } else {
                        XCTAssertEqual(try Example(serialized: payload), try example(expected), "\(file.name) record \(index)")
                    }
                }
            }
        }
    }

    func testObjectDetectionRecordDecodesToTheConventionalKeys() throws {
        let reader = try TFRecordReader(path: fixture("tf_examples.tfrecord"))
        let first = try XCTUnwrap(try reader.nextExample())
        XCTAssertEqual(first["image/format"], .strings(["jpeg"]))
        XCTAssertEqual(first["image/height"], .int64s([4]))
        XCTAssertEqual(first["image/object/bbox/xmin"], .floats([0.1, 0.5]))
        XCTAssertEqual(first["image/object/class/text"], .strings(["cat", "chât 猫"]))
        guard case .bytes(let images) = first["image/encoded"] else { return XCTFail("no image") }
        XCTAssertEqual(Array(images[0].prefix(3)), [0xFF, 0xD8, 0xFF])
    }

    // MARK: - What Prism writes

    /// The records Prism writes for the TF fixtures: each decoded example, re-encoded.
    func prismExamplePayloads() throws -> [[UInt8]] {
        try readPayloads(fixture("tf_examples.tfrecord")).map { try Example(serialized: $0).serialized() }
    }

    func prismSequencePayloads() throws -> [[UInt8]] {
        try readPayloads(fixture("tf_sequence.tfrecord")).map { try SequenceExample(serialized: $0).serialized() }
    }

    static let prismFiles: [(name: String, compression: TFRecordCompression, sequence: Bool)] = [
        ("prism_examples.tfrecord", .none, false), ("prism_examples.tfrecord.gz", .gzip, false),
        ("prism_examples.tfrecord.zz", .zlib, false), ("prism_sequence.tfrecord", .none, true),
    ]

    /// Regenerates the prism_* fixtures: PRISM_WRITE_FIXTURES=1 swift test --filter FixtureTests/testWritePrismFixtures,
    /// then `python3 Tools/reference/tfrecord_fixtures.py verify`.
    func testWritePrismFixtures() throws {
        guard ProcessInfo.processInfo.environment["PRISM_WRITE_FIXTURES"] == "1" else {
            throw XCTSkip("set PRISM_WRITE_FIXTURES=1 to rewrite the prism_* fixtures")
        }
        for file in Self.prismFiles {
            try writeRecords(file.sequence ? prismSequencePayloads() : prismExamplePayloads(),
                             to: fixture(file.name), compression: file.compression)
        }
    }

    func testCommittedPrismFilesAreWhatPrismWritesToday() throws {
        for file in Self.prismFiles {
            let expected = try file.sequence ? prismSequencePayloads() : prismExamplePayloads()
            XCTAssertEqual(try readPayloads(fixture(file.name), compression: file.compression), expected, file.name)
            if file.compression == .none {
                let directory = try TemporaryDirectory()
                let fresh = try writeRecords(expected, to: directory.file(file.name))
                XCTAssertEqual(readBytes(fresh), readBytes(fixture(file.name)), file.name)
            }
        }
    }

    func testPrismRoundTripOfEveryFixture() throws {
        let directory = try TemporaryDirectory()
        for file in try expectedFiles() where file.type == "example" {
            let examples = try readPayloads(fixture(file.name)).map { try Example(serialized: $0) }
            for compression in TFRecordCompression.allCases {
                let path = directory.file("rt-\(file.name)-\(compression.rawValue)")
                let writer = try TFRecordWriter(path: path, compression: compression)
                for example in examples { try writer.write(example) }
                try writer.close()
                XCTAssertEqual(try readPayloads(path).map { try Example(serialized: $0) }, examples, "\(file.name) \(compression)")
            }
        }
    }
}
