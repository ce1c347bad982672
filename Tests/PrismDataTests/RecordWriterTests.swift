import XCTest
@testable import PrismData

final class RecordWriterTests: XCTestCase {
    func testFramingMatchesTheSpecByteForByte() throws {
        let directory = try TemporaryDirectory()
        let payload = Array("hello".utf8)
        let file = try writeRecords([payload], to: directory.file("one.tfrecord"))
        let bytes = readBytes(file)
        let lengthBytes: [UInt8] = [5, 0, 0, 0, 0, 0, 0, 0]
        let lengthCRC = CRC32C.mask(CRC32C.checksum(lengthBytes))
        let dataCRC = CRC32C.mask(CRC32C.checksum(payload))
        let le = { (v: UInt32) in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        XCTAssertEqual(bytes, lengthBytes + le(lengthCRC) + payload + le(dataCRC))
    }

    func testNothingUnderTheFinalNameUntilClose() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("shard.tfrecord.gz")
        let writer = try TFRecordWriter(path: path)
        try writer.write([1, 2, 3])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: writer.temporaryPath))
        try writer.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".partial"))
        XCTAssertEqual(writer.recordCount, 1)
    }

    func testAnAbandonedWriterLeavesNoFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("abandoned.tfrecord")
        do {
            let writer = try TFRecordWriter(path: path)
            try writer.write([1, 2, 3])
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }

    func testExamplesRoundTrip() throws {
        let directory = try TemporaryDirectory()
        let examples = (0 ..< 50).map { i in
            Example(["id": .int64s([Int64(i)]), "v": .floats([Float(i) / 3]), "s": .strings(["item \(i)"])])
        }
        for suffix in ["", ".gz", ".zz"] {
            let path = directory.file("ex.tfrecord" + suffix)
            let writer = try TFRecordWriter(path: path)
            for example in examples { try writer.write(example) }
            try writer.close()
            let reader = try TFRecordReader(path: path)
            var back: [Example] = []
            while let example = try reader.nextExample() { back.append(example) }
            XCTAssertEqual(back, examples, suffix)
        }
    }
}
