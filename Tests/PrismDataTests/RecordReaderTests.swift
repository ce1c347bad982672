// Every bad input of spec §6 at the framing layer: the exact error (case, file, index, offset) and the
// records delivered before it.
import XCTest
@testable import PrismData

final class RecordReaderTests: XCTestCase {
    // Three records of 10, 20 and 30 bytes: headers at 0, 26 and 62; 108 bytes in all.
    let payloads = [pseudoRandomBytes(10, seed: 1), pseudoRandomBytes(20, seed: 2), pseudoRandomBytes(30, seed: 3)]
    var directory: TemporaryDirectory!
    var path: String!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        path = try writeRecords(payloads, to: directory.file("three.tfrecord"))
    }

    func at(_ record: Int, _ offset: UInt64) -> RecordLocation { RecordLocation(file: path, record: record, offset: offset) }

    func mutate(_ change: (inout [UInt8]) -> Void) {
        var bytes = readBytes(path)
        change(&bytes)
        writeBytes(bytes, to: path)
    }

    /// Rewrites record 1's length field and its CRC, so only the length itself is wrong.
    func setLengthOfSecondRecord(_ length: UInt64) {
        mutate { bytes in
            let lengthBytes = withUnsafeBytes(of: length.littleEndian) { Array($0) }
            let crc = lengthBytes.withUnsafeBytes { CRC32C.maskedChecksum($0) }
            bytes.replaceSubrange(26 ..< 34, with: lengthBytes)
            bytes.replaceSubrange(34 ..< 38, with: withUnsafeBytes(of: crc.littleEndian) { Array($0) })
        }
    }

    func testReadsAllRecords() {
        XCTAssertEqual(readBytes(path).count, 108)
        let result = readAll(path)
        XCTAssertEqual(result.records, payloads)
        XCTAssertNil(result.error)
    }

    func testRecordIndexAndOffsetAdvance() throws {
        let reader = try TFRecordReader(path: path)
        var seen: [(Int, UInt64)] = []
        while try reader.withNextRecord({ _ in seen.append((reader.recordIndex, reader.offset)) }) != nil {}
        XCTAssertEqual(seen.map(\.0), [1, 2, 3])
        XCTAssertEqual(seen.map(\.1), [26, 62, 108])
    }

    func testBadLengthCRC() {
        mutate { $0[34] ^= 0x01 }
        let result = readAll(path)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertEqual(result.error, .corruptedLength(at(1, 26)))
        XCTAssertEqual(result.error?.description, "\(path!): record 1: corrupted record at 26 (length CRC mismatch)")
    }

    func testBadDataCRC() {
        mutate { $0[26 + 12 + 5] ^= 0x40 }
        let result = readAll(path)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertEqual(result.error, .corruptedData(at(1, 26)))
        XCTAssertEqual(result.error?.description, "\(path!): record 1: corrupted record at 26 (data CRC mismatch)")
    }

    func testBadStoredDataCRC() {
        mutate { $0[61] ^= 0xFF }   // the CRC itself, not the payload
        XCTAssertEqual(readAll(path).error, .corruptedData(at(1, 26)))
    }

    func testSkipCorruptSkipsOnlyTheRecordWithABadDataCRC() {
        mutate { $0[26 + 12 + 5] ^= 0x40 }
        let result = readAll(path, skipCorrupt: true)
        XCTAssertEqual(result.records, [payloads[0], payloads[2]])
        XCTAssertNil(result.error)
        XCTAssertEqual(result.skipped, [.corruptedData(at(1, 26))])
    }

    func testSkipCorruptStopsTheFileAtABadLengthAndReportsIt() {
        mutate { $0[34] ^= 0x01 }
        let result = readAll(path, skipCorrupt: true)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertNil(result.error)
        XCTAssertEqual(result.skipped, [.corruptedLength(at(1, 26))])
    }

    func testTruncatedHeader() {
        mutate { $0.removeLast($0.count - (26 + 5)) }
        let result = readAll(path)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertEqual(result.error, .truncatedHeader(at(1, 26), available: 5))
        XCTAssertEqual(result.error?.description, "\(path!): record 1: truncated record at 26 (5 of 12 header bytes)")
    }

    func testTruncatedPayload() {
        mutate { $0.removeLast($0.count - (26 + 12 + 7)) }
        let result = readAll(path)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertEqual(result.error, .truncatedPayload(at(1, 26), length: 20, available: 7))
    }

    func testTruncatedDataCRC() {
        mutate { $0.removeLast(2) }   // the last record loses half of its CRC
        let result = readAll(path)
        XCTAssertEqual(result.records, [payloads[0], payloads[1]])
        XCTAssertEqual(result.error, .truncatedPayload(at(2, 62), length: 30, available: 32))
    }

    func testLengthLargerThanFile() {
        setLengthOfSecondRecord(1000)
        let result = readAll(path)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertEqual(result.error, .truncatedPayload(at(1, 26), length: 1000, available: 70))
    }

    func testLengthTwoToThe63() {
        setLengthOfSecondRecord(1 << 63)
        let result = readAll(path)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertEqual(result.error, .truncatedPayload(at(1, 26), length: 1 << 63, available: 70))
    }

    func testLengthTwoToThe63InACompressedStreamIsRefusedWithoutAllocating() throws {
        setLengthOfSecondRecord(1 << 63)
        let gz = try gzipCopy(of: path)
        let result = readAll(gz)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertEqual(result.error, .recordTooLarge(RecordLocation(file: gz, record: 1, offset: 26), length: 1 << 63, limit: 1 << 31))
    }

    func testLengthLargerThanACompressedStream() throws {
        setLengthOfSecondRecord(5000)
        let gz = try gzipCopy(of: path)
        let result = readAll(gz)
        XCTAssertEqual(result.records, [payloads[0]])
        XCTAssertEqual(result.error, .truncatedPayload(RecordLocation(file: gz, record: 1, offset: 26), length: 5000, available: 70))
    }

    func testZeroLengthRecordsAreLegal() throws {
        let zeros = try writeRecords([[], payloads[0], [], []], to: directory.file("zeros.tfrecord"))
        let result = readAll(zeros)
        XCTAssertEqual(result.records, [[], payloads[0], [], []])
        XCTAssertNil(result.error)
    }

    func testEmptyFileHasNoRecords() {
        writeBytes([], to: path)
        let result = readAll(path)
        XCTAssertEqual(result.records, [])
        XCTAssertNil(result.error)
    }

    func testTrailingGarbageShorterThanAHeader() {
        mutate { $0 += [1, 2, 3, 4, 5] }
        let result = readAll(path)
        XCTAssertEqual(result.records, payloads)
        XCTAssertEqual(result.error, .truncatedHeader(at(3, 108), available: 5))
    }

    func testTrailingGarbageLongerThanAHeader() {
        mutate { $0 += pseudoRandomBytes(40, seed: 9) }
        let result = readAll(path)
        XCTAssertEqual(result.records, payloads)
        XCTAssertEqual(result.error, .corruptedLength(at(3, 108)))
    }

    func testPayloadThatIsNotProtobufReadsFineButFailsAsAnExample() throws {
        let good = Example(["label": .int64s([1])]).serialized()
        let file = try writeRecords([good, [0xFF, 0xFF, 0xFF, 0xFF], good], to: directory.file("mixed.tfrecord"))
        let reader = try TFRecordReader(path: file)
        XCTAssertEqual(try reader.nextExample(), Example(["label": .int64s([1])]))
        XCTAssertThrowsError(try reader.nextExample()) { error in
            XCTAssertEqual(error as? TFRecordError, .invalidExample(RecordLocation(file: file, record: 1, offset: UInt64(good.count + 16)),
                                                                     reason: "invalid field tag (byte 0)"))
        }
        // With skipCorrupt the bad payload is reported and reading goes on.
        let skipping = try TFRecordReader(path: file, skipCorrupt: true)
        var examples: [Example] = []
        while let example = try skipping.nextExample() { examples.append(example) }
        XCTAssertEqual(examples.count, 2)
        XCTAssertEqual(skipping.skipped.map { $0.location?.record }, [1])
    }

    func testMissingFileIsAnIOError() {
        let result = readAll(directory.file("absent.tfrecord"))
        XCTAssertEqual(result.error, .io(file: directory.file("absent.tfrecord"), function: "open", message: "No such file or directory"))
        XCTAssertEqual(result.error?.description, "open failed: No such file or directory (\(directory.file("absent.tfrecord")))")
    }

    func testLargeRecordsBeyondTheBufferSize() throws {
        let big = [pseudoRandomBytes(3 << 20, seed: 5), [], pseudoRandomBytes(1 << 20, seed: 6), pseudoRandomBytes(100, seed: 7)]
        for compression in TFRecordCompression.allCases {
            let file = try writeRecords(big, to: directory.file("big-\(compression).tfrecord"), compression: compression)
            XCTAssertEqual(readAll(file, compression: compression).records, big, "\(compression)")
        }
    }

    func testChecksumVerificationCanBeTurnedOff() throws {
        mutate { $0[26 + 12 + 5] ^= 0x40 }
        let reader = try TFRecordReader(path: path)
        reader.verifyChecksums = false
        var count = 0
        try reader.forEachRecord { _ in count += 1 }
        XCTAssertEqual(count, 3)
    }

    private func gzipCopy(of plain: String) throws -> String {
        let gz = plain + ".gz"
        let sink = try DeflateSink(file: FileSink(path: gz), compression: .gzip, level: 6)
        try readBytes(plain).withUnsafeBytes { try sink.write($0) }
        try sink.finish()
        return gz
    }
}

extension RecordReaderTests {
    /// What a reader delivers, record by record: payloads, then the error that stopped it, and what it skipped.
    func outcome(_ path: String, skipCorrupt: Bool, fast: Bool) -> String {
        var lines: [String] = []
        do {
            let reader = try TFRecordReader(path: path, skipCorrupt: skipCorrupt)
            do {
                let record = { (payload: UnsafeRawBufferPointer) in
                    lines.append("\(payload.count) \(CRC32C.checksum(payload))")
                    if payload.first == 0xEE { throw TFRecordError.invalidExample(nil, reason: "not an example") }
                }
                if fast { try reader.forEachRecord(record) }
                else {
                    while true {
                        let previous = reader.offset
                        do { if try reader.withNextRecord(record) == nil { break } }
                        catch TFRecordError.invalidExample(nil, let reason) {
                            let error = TFRecordError.invalidExample(RecordLocation(file: path, record: reader.recordIndex - 1,
                                                                                    offset: reader.offset - UInt64(16 + Int(lines.last!.split(separator: " ")[0])!)), reason: reason)
                            _ = previous
                            guard skipCorrupt else { throw error }
                            reader.noteSkipped(error)
                        }
                    }
                }
            } catch { lines.append("error \(error)") }
            lines.append("at \(reader.recordIndex) \(reader.offset)")
            lines += reader.skipped.map { "skipped \($0)" }
        } catch { lines.append("open \(error)") }
        return lines.joined(separator: "\n")
    }

    /// The fast whole-file loop gives what the record-at-a-time one gives, on files damaged at random, with records
    /// that span buffer refills and payloads `body` refuses.
    func testForEachRecordMatchesWithNextRecordOnDamagedFiles() throws {
        var payloads = (0 ..< 60).map { pseudoRandomBytes($0 * 37 % 300, seed: UInt64($0 + 1)) }
        payloads[7] = [0xEE] + payloads[7]
        payloads[20] = pseudoRandomBytes(1_500_000, seed: 99)   // larger than the 1 MiB buffer
        payloads[33] = []
        let clean = try writeRecords(payloads, to: directory.file("clean.tfrecord"))
        let bytes = readBytes(clean)
        var seed: UInt64 = 12345
        for round in 0 ..< 60 {
            var damaged = bytes
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            switch round % 4 {
            case 0: damaged[Int(seed >> 33) % damaged.count] ^= 0x10                       // a bit somewhere
            case 1: damaged.removeLast(Int(seed >> 40) % 2000)                              // truncated
            case 2: damaged[Int(seed >> 33) % 300] ^= 0xFF                                   // early, often a header
            default: break                                                                   // clean
            }
            let path = directory.file("damaged-\(round).tfrecord")
            writeBytes(damaged, to: path)
            for skipCorrupt in [false, true] {
                XCTAssertEqual(outcome(path, skipCorrupt: skipCorrupt, fast: true), outcome(path, skipCorrupt: skipCorrupt, fast: false),
                               "round \(round) skipCorrupt \(skipCorrupt)")
            }
        }
    }
}
