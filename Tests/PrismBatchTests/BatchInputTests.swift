import Foundation
@testable import PrismBatch
import PrismData
import PrismTestSupport
import XCTest

final class BatchInputTests: XCTestCase {
    /// Rows of several JSONL files numbered across them; the slices of n workers are disjoint and together
    /// are every row exactly once, in order.
    func testShardSlicesCoverEveryRowExactlyOnce() throws {
        let dir = temporaryDirectory("batch-input")
        var paths: [String] = []
        var n = 0
        for (f, count) in [5, 0, 3, 9].enumerated() {
            let url = dir.appendingPathComponent("part\(f).jsonl")
            try BatchFixtures.jsonl((0..<count).map { _ in defer { n += 1 }; return "{\"n\": \(n)}" }, at: url)
            paths.append(url.path)
        }
        XCTAssertEqual(n, 17)
        for count in 1...6 {
            var seen: [Int] = []
            for index in 0..<count {
                let input = try BatchInput(paths: paths, slice: ShardSlice(index: index, count: count))
                try input.forEach(from: 0) { record, fields in
                    XCTAssertTrue(input.range.contains(record))
                    XCTAssertEqual(try fields.get().scalarJSON("n"), "\(record)", "the row numbered \(record) is line \(record) overall")
                    seen.append(record)
                }
            }
            XCTAssertEqual(seen, Array(0..<17), "\(count) workers")
        }
        // starting later in the range (what --resume does)
        let input = try BatchInput(paths: paths, slice: ShardSlice(index: 1, count: 2))
        var seen: [Int] = []
        try input.forEach(from: 12) { record, _ in seen.append(record) }
        XCTAssertEqual(input.range, 8..<17)
        XCTAssertEqual(seen, Array(12..<17))
    }

    /// A TFRecord payload that fails its CRC is one bad row at its number; the rows after it are still read.
    func testCorruptTFRecordPayloadIsOneBadRow() throws {
        let dir = temporaryDirectory("batch-corrupt")
        let url = dir.appendingPathComponent("rows.tfrecord")
        try BatchFixtures.tfrecord((0..<5).map { (Data([UInt8($0)]), "q\($0)", "id\($0)") }, at: url)
        var bytes = try Data(contentsOf: url)
        // record 2's payload: each record is 12 header + payload + 4 CRC bytes, all the same size here
        let size = bytes.count / 5
        bytes[2 * size + 14] ^= 0xFF
        try bytes.write(to: url)
        let input = try BatchInput(paths: [url.path])
        var results: [(Int, String)] = []
        try input.forEach(from: 0) { record, fields in
            switch fields {
            case .success(let row): results.append((record, try row.text("id") ?? "-"))
            case .failure(let error): results.append((record, "\(error)"))
            }
        }
        XCTAssertEqual(results.map(\.0), [0, 1, 2, 3, 4])
        XCTAssertEqual(results.map(\.1), ["id0", "id1", "\(url.path): record 2: corrupted record at \(2 * size) (data CRC mismatch)", "id3", "id4"])
    }

    func testInputErrorsSayWhat() throws {
        XCTAssertThrowsError(try BatchInput(paths: [])) { XCTAssertEqual("\($0)", "no input files") }
        XCTAssertThrowsError(try BatchInput(paths: ["/no/such.jsonl"])) { XCTAssertEqual("\($0)", "/no/such.jsonl: no such file") }
        XCTAssertThrowsError(try BatchInput(paths: ["a.jsonl", "b.tfrecord"])) {
            XCTAssertEqual("\($0)", "the inputs mix JSONL and TFRecord files: give one kind")
        }
    }
}
