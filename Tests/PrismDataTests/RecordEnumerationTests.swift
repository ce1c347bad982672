// Records numbered across files and cut into exact slices; N workers write what one machine writes.
import XCTest
@testable import PrismData

final class RecordEnumerationTests: XCTestCase {
    func testSlicesCoverEveryRecordOnceInOrder() {
        for total in [0, 1, 2, 7, 10, 101] {
            for count in 1 ... 12 {
                let ranges = (0 ..< count).map { ShardSlice(index: $0, count: count).range(of: total) }
                XCTAssertEqual(ranges.flatMap { Array($0) }, Array(0 ..< total), "\(total) records, \(count) slices")
                XCTAssertLessThanOrEqual((ranges.map(\.count).max() ?? 0) - (ranges.map(\.count).min() ?? 0), 1)
            }
        }
        XCTAssertEqual(ShardSlice(index: 1, count: 3).range(of: Int(Int32.max) * 4), 2_863_311_529 ..< 5_726_623_058)
    }

    /// Files of 3, 0, 5 and 1 records (ids 0 ..< 9): every slice sees its numbers, with file, index and location.
    func files(_ directory: TemporaryDirectory, compression: TFRecordCompression = .none) throws -> [String] {
        var next: Int64 = 0
        return try [3, 0, 5, 1].enumerated().map { i, n in
            try writeRecords((0 ..< n).map { _ in
                defer { next += 1 }
                return Example(["id": .int64s([next])]).serialized()
            }, to: directory.file("f\(i).tfrecord"), compression: compression)
        }
    }

    func ids(_ files: RecordFiles, _ range: Range<Int>) throws -> [Int64] {
        var skipped: [TFRecordError] = []
        var out: [Int64] = []
        try files.forEach(in: range, skipped: &skipped) { record in
            XCTAssertEqual(record.number, files.starts[record.file] + record.index)
            guard case .int64s(let v)? = try Example(serialized: record.bytes)["id"] else { return XCTFail() }
            XCTAssertEqual(Int(v[0]), record.number)
            out.append(v[0])
        }
        return out
    }

    func testTFRecordFilesAreNumberedAcrossFilesAndSliced() throws {
        for compression in TFRecordCompression.allCases {
            let directory = try TemporaryDirectory()
            let files = try RecordFiles(tfrecords: try self.files(directory, compression: compression))
            XCTAssertEqual(files.counts, [3, 0, 5, 1])
            XCTAssertEqual(files.starts, [0, 3, 3, 8])
            XCTAssertEqual(files.total, 9)
            for n in 1 ... 10 {
                let parts = try (0 ..< n).map { try ids(files, ShardSlice(index: $0, count: n).range(of: files.total)) }
                XCTAssertEqual(parts.flatMap { $0 }, Array(0 ..< 9), "\(compression), \(n) slices")
            }
            XCTAssertEqual(try ids(files, 4 ..< 100), [4, 5, 6, 7, 8])
        }
    }

    func testJSONLLinesAreRecordsWithTheirLineNumbers() throws {
        let directory = try TemporaryDirectory()
        writeBytes(Array("{\"a\":1}\n\n  \n{\"a\":2}\n{\"a\":3}".utf8), to: directory.file("a.jsonl"))
        writeBytes(Array("\n{\"a\":4}\r\n".utf8), to: directory.file("b.jsonl"))
        let files = try RecordFiles(jsonl: [directory.file("a.jsonl"), directory.file("b.jsonl")])
        XCTAssertEqual(files.counts, [3, 1])
        var skipped: [TFRecordError] = []
        var seen: [String] = []
        try files.forEach(in: 1 ..< 4, skipped: &skipped) { record in
            seen.append("\(record.number) \(record.file):\(record.line) \(String(decoding: record.bytes, as: UTF8.self))")
        }
        XCTAssertEqual(seen, ["1 0:4 {\"a\":2}", "2 0:5 {\"a\":3}", "3 1:2 {\"a\":4}\r"])
    }

    /// A frame whose payload CRC fails keeps its number: the slice holding it reports it, once; a broken header
    /// ends its file when counting, and is reported once too.
    func testCorruptRecordsKeepTheirNumbersAndAreReportedOnce() throws {
        let directory = try TemporaryDirectory()
        let paths = try files(directory)
        var bytes = readBytes(paths[2])
        let size = Example(["id": .int64s([3])]).serialized().count + 16
        bytes[size + 12] ^= 0x01        // record 1 of f2 (number 4): payload CRC
        bytes[3 * size + 8] ^= 0x01     // record 3 of f2 (number 6): length CRC, the rest of f2 is lost
        writeBytes(bytes, to: paths[2])
        XCTAssertThrowsError(try RecordFiles(tfrecords: paths)) { error in
            XCTAssertEqual(error as? TFRecordError, .corruptedLength(RecordLocation(file: paths[2], record: 3, offset: UInt64(3 * size))))
        }
        let files = try RecordFiles(tfrecords: paths, skipCorrupt: true)
        XCTAssertEqual(files.counts, [3, 0, 3, 1])
        XCTAssertEqual(files.skippedWhileCounting, [.corruptedLength(RecordLocation(file: paths[2], record: 3, offset: UInt64(3 * size)))])
        var all: [TFRecordError] = []
        var seen: [Int] = []
        for i in 0 ..< 4 {
            var skipped: [TFRecordError] = []
            try files.forEach(in: ShardSlice(index: i, count: 4).range(of: files.total), skipped: &skipped) { seen.append($0.number) }
            all += skipped
        }
        XCTAssertEqual(seen, [0, 1, 2, 3, 5, 6])
        XCTAssertEqual(all, [.corruptedData(RecordLocation(file: paths[2], record: 1, offset: UInt64(size)))])
    }

    // MARK: - Index files

    func testACurrentIndexIsUsedForCountingAndSeeking() throws {
        let directory = try TemporaryDirectory()
        let paths = try files(directory)
        for path in paths { try TFRecordIndex.write(for: path) }
        let files = try RecordFiles(tfrecords: paths)
        XCTAssertEqual(files.counts, [3, 0, 5, 1])
        XCTAssertEqual(try ids(files, 5 ..< 9), [5, 6, 7, 8])
        // A compressed file has no size to check an index against: its index is what counts (here, wrongly, 2).
        let gzip = try writeRecords([[1], [2], [3]], to: directory.file("z.tfrecord.gz"))
        writeBytes(Array("0 17\n17 17\n".utf8), to: TFRecordIndex.path(for: gzip))
        XCTAssertEqual(try RecordFiles(tfrecords: [gzip]).counts, [2])
        XCTAssertEqual(try RecordFiles(tfrecords: [gzip], useIndexes: false).counts, [3])
        // An index that does not end where the file ends is refused, naming it.
        let index = TFRecordIndex.path(for: paths[2])
        var lines = String(decoding: readBytes(index), as: UTF8.self).split(separator: "\n")
        lines.removeLast()
        writeBytes(Array((lines.joined(separator: "\n") + "\n").utf8), to: index)
        XCTAssertThrowsError(try RecordFiles(tfrecords: paths)) { error in
            guard case .invalidInput(index, 0, let message)? = error as? TFRecordError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.hasSuffix("run `prism index` again"), message)
        }
        XCTAssertEqual(try RecordFiles(tfrecords: paths, useIndexes: false).counts, [3, 0, 5, 1])
        // An index older than its file is not used at all.
        let past = Date(timeIntervalSinceNow: -3600)
        try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: index)
        XCTAssertEqual(try RecordFiles(tfrecords: paths).counts, [3, 0, 5, 1])
        // A damaged line is an error naming the index and the line.
        writeBytes(Array("0 21\n21 x\n".utf8), to: index)
        XCTAssertThrowsError(try RecordFiles(tfrecords: paths)) { error in
            XCTAssertEqual((error as? TFRecordError)?.description, "\(index):2: not an index line (\"offset length\", records in order)")
        }
    }

    // MARK: - Workers and one machine

    /// N workers with --shard-index/--shard-count write byte for byte the files one machine writes.
    func testWorkersTogetherWriteExactlyWhatOneMachineWrites() throws {
        let directory = try TemporaryDirectory()
        let inputs = ["tf_examples.tfrecord", "roundtrip_examples.tfrecord", "tf_zero_length.tfrecord", "pypi_tfrecord.tfrecord"].map(fixture)
        for shards in [1, 3, 5] {
            for workers in [1, 2, 3] where workers <= shards || shards == 1 {
                var one = ConvertOptions()
                one.shards = .shards(shards)
                let single = directory.file("one-\(shards)")
                _ = try convertTFRecordsToJSONL(inputs, in: single + "/jsonl", options: one)
                _ = try convertTFRecords(inputs, toShardsIn: single + "/tf", options: one)
                let shared = directory.file("workers-\(shards)-\(workers)")
                var records = 0
                for i in 0 ..< workers {
                    var options = one
                    options.slice = ShardSlice(index: i, count: workers)
                    records += try convertTFRecordsToJSONL(inputs, in: shared + "/jsonl", options: options).records
                    _ = try convertTFRecords(inputs, toShardsIn: shared + "/tf", options: options)
                }
                XCTAssertEqual(records, 14)
                let files = filesUnder(single)
                XCTAssertEqual(filesUnder(shared), files, "\(shards) shards, \(workers) workers")
                for file in files { XCTAssertEqual(readBytes(shared + "/" + file), readBytes(single + "/" + file), file) }
                try FileManager.default.removeItem(atPath: single)
            }
        }
    }

    func testAWorkerWritesOnlyItsShards() throws {
        let directory = try TemporaryDirectory()
        var options = ConvertOptions()
        options.shards = .shards(4)
        options.slice = ShardSlice(index: 1, count: 2)
        let report = try convertTFRecords([fixture("tf_examples.tfrecord")], toShardsIn: directory.path, options: options)
        XCTAssertEqual(report.outputs.map { ($0 as NSString).lastPathComponent }, ["data-00002-of-00004.tfrecord", "data-00003-of-00004.tfrecord"])
        XCTAssertEqual(filesUnder(directory.path), ["data-00002-of-00004.tfrecord", "data-00003-of-00004.tfrecord"])
        XCTAssertEqual(report.records, 3)   // records 2 ..< 5 of 5
    }
}
