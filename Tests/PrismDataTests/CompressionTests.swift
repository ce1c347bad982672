import XCTest
@testable import PrismData

final class CompressionTests: XCTestCase {
    let payloads = (0 ..< 200).map { pseudoRandomBytes(100 + $0 * 37, seed: UInt64($0 + 1)) }

    func testExtensionDetection() {
        XCTAssertEqual(TFRecordCompression.fromExtension("a/train-00000-of-00008.tfrecord.gz"), .gzip)
        XCTAssertEqual(TFRecordCompression.fromExtension("x.TFRECORD.GZ"), .gzip)
        XCTAssertEqual(TFRecordCompression.fromExtension("x.tfrecord.zz"), .zlib)
        XCTAssertEqual(TFRecordCompression.fromExtension("x.zlib"), .zlib)
        XCTAssertEqual(TFRecordCompression.fromExtension("x.tfrecords"), .none)
        XCTAssertEqual(TFRecordCompression.fromExtension("x.tfrecord-00000-of-00010"), .none)
    }

    func testRoundTripsInEveryCompression() throws {
        let directory = try TemporaryDirectory()
        for compression in TFRecordCompression.allCases {
            // Written with an explicit option, read back with sniffing, with the option, and by extension.
            let file = try writeRecords(payloads, to: directory.file("data-\(compression.rawValue).tfrecord"), compression: compression)
            let sniffed = readAll(file)
            XCTAssertEqual(sniffed.records, payloads, "\(compression)")
            XCTAssertNil(sniffed.error)
            XCTAssertEqual(try TFRecordReader(path: file).compression, compression)
            XCTAssertEqual(readAll(file, compression: compression).records, payloads)
            let named = try writeRecords(payloads, to: directory.file("named.tfrecord" + compression.fileSuffix))
            XCTAssertEqual(try TFRecordReader(path: named).compression, compression)
            XCTAssertEqual(readAll(named).records, payloads)
        }
    }

    func testCompressedFilesAreSmallerForCompressibleData() throws {
        let directory = try TemporaryDirectory()
        let text = (0 ..< 100).map { Array("record \($0) of a very repetitive dataset, again and again".utf8) }
        let plain = try writeRecords(text, to: directory.file("t.tfrecord"))
        let gz = try writeRecords(text, to: directory.file("t.tfrecord.gz"))
        XCTAssertLessThan(readBytes(gz).count * 4, readBytes(plain).count)
        XCTAssertEqual(Array(readBytes(gz).prefix(2)), [0x1F, 0x8B])
        let zz = try writeRecords(text, to: directory.file("t.tfrecord.zz"))
        XCTAssertEqual(readBytes(zz)[0] & 0x0F, 8)   // zlib CMF: deflate
    }

    func testPlainHeaderThatLooksLikeGzipMagicIsNotMistaken() throws {
        // A payload of 0x8B1F bytes starts the file with 1F 8B; the valid header must win the sniff.
        let directory = try TemporaryDirectory()
        let file = try writeRecords([pseudoRandomBytes(0x8B1F)], to: directory.file("magic.tfrecord"))
        XCTAssertEqual(Array(readBytes(file).prefix(2)), [0x1F, 0x8B])
        XCTAssertEqual(try TFRecordReader(path: file).compression, TFRecordCompression.none)
        XCTAssertEqual(readAll(file).records.count, 1)
    }

    func testGzipTruncatedDeliversEveryCompleteRecordThenFails() throws {
        let directory = try TemporaryDirectory()
        let file = try writeRecords(payloads, to: directory.file("cut.tfrecord.gz"))
        var bytes = readBytes(file)
        bytes.removeLast(bytes.count / 2)
        writeBytes(bytes, to: file)
        let result = readAll(file)
        let delivered = result.records.count
        XCTAssertGreaterThan(delivered, 10)
        XCTAssertLessThan(delivered, payloads.count)
        XCTAssertEqual(result.records, Array(payloads.prefix(delivered)))
        let offset = payloads.prefix(delivered).reduce(UInt64(0)) { $0 + UInt64($1.count + 16) }
        XCTAssertEqual(result.error, .truncatedStream(RecordLocation(file: file, record: delivered, offset: offset), compression: .gzip))
        XCTAssertEqual(result.error?.reason, "truncated record at \(offset) (gzip stream ends early)")
    }

    func testGzipTrailerMissingIsTruncated() throws {
        let directory = try TemporaryDirectory()
        let file = try writeRecords(Array(payloads.prefix(3)), to: directory.file("trailer.tfrecord.gz"))
        var bytes = readBytes(file)
        bytes.removeLast(4)   // part of the CRC32/ISIZE trailer
        writeBytes(bytes, to: file)
        let result = readAll(file)
        XCTAssertEqual(result.records, Array(payloads.prefix(3)))
        XCTAssertEqual(result.error?.location?.record, 3)
        if case .truncatedStream = result.error {} else { XCTFail("\(String(describing: result.error))") }
    }

    func testGzipDeclaredButFileIsPlain() throws {
        let directory = try TemporaryDirectory()
        let file = try writeRecords(payloads, to: directory.file("plain.tfrecord"))
        let result = readAll(file, compression: .gzip)
        XCTAssertEqual(result.records, [])
        XCTAssertEqual(result.error, .compression(RecordLocation(file: file, record: 0, offset: 0), function: "inflate", message: "incorrect header check"))
        XCTAssertEqual(result.error?.description, "\(file): record 0: corrupted record at 0 (inflate failed: incorrect header check)")
    }

    func testPlainDeclaredButFileIsGzip() throws {
        let directory = try TemporaryDirectory()
        let file = try writeRecords(payloads, to: directory.file("packed.tfrecord"), compression: .gzip)
        XCTAssertEqual(readAll(file, compression: TFRecordCompression.none).error, .corruptedLength(RecordLocation(file: file, record: 0, offset: 0)))
    }

    func testZlibDeclaredButFileIsGzip() throws {
        let directory = try TemporaryDirectory()
        let file = try writeRecords(payloads, to: directory.file("g.tfrecord"), compression: .gzip)
        XCTAssertEqual(readAll(file, compression: .zlib).error, .compression(RecordLocation(file: file, record: 0, offset: 0), function: "inflate", message: "incorrect header check"))
    }

    func testTrailingGarbageAfterGzipStreamIsReported() throws {
        let directory = try TemporaryDirectory()
        let file = try writeRecords(Array(payloads.prefix(2)), to: directory.file("junk.tfrecord.gz"))
        writeBytes(readBytes(file) + Array("junk".utf8), to: file)
        let result = readAll(file)
        XCTAssertEqual(result.records, Array(payloads.prefix(2)))
        XCTAssertEqual(result.error?.location?.record, 2)
        XCTAssertEqual(result.error?.reason.hasSuffix("(inflate failed: trailing garbage after the gzip stream)"), true)
    }

    func testConcatenatedGzipMembersReadAsOneStream() throws {
        let directory = try TemporaryDirectory()
        let a = try writeRecords(Array(payloads.prefix(2)), to: directory.file("a.tfrecord.gz"))
        let b = try writeRecords(Array(payloads[2 ..< 5]), to: directory.file("b.tfrecord.gz"))
        let joined = directory.file("ab.tfrecord.gz")
        writeBytes(readBytes(a) + readBytes(b), to: joined)
        XCTAssertEqual(readAll(joined).records, Array(payloads.prefix(5)))
    }
}
