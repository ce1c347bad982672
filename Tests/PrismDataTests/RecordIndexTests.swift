// Index files in the `tfrecord` package / DALI format (Tools/reference/tfrecord_roundtrip.py compares them
// byte for byte with tfrecord2idx).
import XCTest
@testable import PrismData

final class RecordIndexTests: XCTestCase {
    func testOneLinePerRecordWithOffsetAndFramedLength() throws {
        let directory = try TemporaryDirectory()
        let payloads = [pseudoRandomBytes(10, seed: 1), [], pseudoRandomBytes(300, seed: 2)]
        for compression in TFRecordCompression.allCases {
            let path = try writeRecords(payloads, to: directory.file("a.tfrecord" + compression.fileSuffix), compression: compression)
            let summary = try TFRecordIndex.write(for: path)
            XCTAssertEqual(summary.records, 3)
            XCTAssertEqual(summary.compression, compression)
            XCTAssertEqual(summary.output, compression == .none ? directory.file("a.tfindex") : path + ".tfindex")
            // Offsets count decompressed bytes whatever the compression.
            XCTAssertEqual(String(decoding: readBytes(summary.output), as: UTF8.self), "0 26\n26 16\n42 316\n")
        }
    }

    func testIndexNames() {
        XCTAssertEqual(TFRecordIndex.path(for: "d/train.tfrecord"), "d/train.tfindex")
        XCTAssertEqual(TFRecordIndex.path(for: "d/train.tfrecords"), "d/train.tfindex")
        XCTAssertEqual(TFRecordIndex.path(for: "d/train-00000-of-00008"), "d/train-00000-of-00008.tfindex")
        XCTAssertEqual(TFRecordIndex.path(for: "d/t.tfrecord.gz"), "d/t.tfrecord.gz.tfindex")
    }

    func testACorruptFileGetsNoIndex() throws {
        let directory = try TemporaryDirectory()
        let path = try writeRecords([[1, 2, 3], [4, 5, 6]], to: directory.file("a.tfrecord"))
        var bytes = readBytes(path)
        bytes[19 + 12] ^= 0xFF
        writeBytes(bytes, to: path)
        XCTAssertThrowsError(try TFRecordIndex.write(for: path)) { error in
            XCTAssertEqual(error as? TFRecordError, .corruptedData(RecordLocation(file: path, record: 1, offset: 19)))
        }
        XCTAssertEqual(filesUnder(directory.path), ["a.tfrecord"])
    }
}
