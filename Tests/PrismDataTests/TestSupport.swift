// Helpers shared by the PrismData tests: a temporary directory and small byte builders.
import Foundation
import XCTest
@testable import PrismData
import PrismTestSupport

/// Removed when released, and in any case when the test process exits: XCTest keeps every test case (and so
/// a directory held in a property) alive until exit, which left one behind per test and run.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = temporaryDirectory("prism-data-tests").path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// The committed fixtures next to this file (no SwiftPM resources needed).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

func fixture(_ name: String) -> String { fixtures + "/" + name }

/// Deterministic bytes (xorshift), so tests never depend on a random seed.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    return (0 ..< count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state >> 24)
    }
}

/// Writes `payloads` as a TFRecord file and returns its path.
@discardableResult
func writeRecords(_ payloads: [[UInt8]], to path: String, compression: TFRecordCompression? = nil) throws -> String {
    let writer = try TFRecordWriter(path: path, compression: compression)
    for payload in payloads { try writer.write(payload) }
    try writer.close()
    return path
}

/// Reads every record, returning the ones delivered and the error that stopped reading (if any).
func readAll(_ path: String, compression: TFRecordCompression? = nil, skipCorrupt: Bool = false)
    -> (records: [[UInt8]], error: TFRecordError?, skipped: [TFRecordError]) {
    var records: [[UInt8]] = []
    do {
        let reader = try TFRecordReader(path: path, compression: compression, skipCorrupt: skipCorrupt)
        do {
            while let record = try reader.next() { records.append(record) }
        } catch let error as TFRecordError {
            return (records, error, reader.skipped)
        }
        return (records, nil, reader.skipped)
    } catch let error as TFRecordError {
        return (records, error, [])
    } catch {
        XCTFail("unexpected error type: \(error)")
        return (records, nil, [])
    }
}

/// Every record of a TFRecord file decoded as a tf.Example.
func readExamples(_ path: String) throws -> [Example] {
    let reader = try TFRecordReader(path: path)
    var out: [Example] = []
    while let example = try reader.nextExample() { out.append(example) }
    return out
}

/// Every payload of a TFRecord file.
func readPayloads(_ path: String) throws -> [[UInt8]] {
    let reader = try TFRecordReader(path: path)
    var out: [[UInt8]] = []
    while let payload = try reader.next() { out.append(payload) }
    return out
}

/// Every file under a folder (relative paths, sorted), hidden ones included.
func filesUnder(_ path: String) -> [String] {
    (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).filter { relative in
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: path + "/" + relative, isDirectory: &isDirectory)
        return !isDirectory.boolValue
    }.sorted()
}

/// Payloads compared as protobuf-c re-encodes them (so NaNs compare by their bits): equal records, equal bytes.
func canonical(_ payload: [UInt8]) throws -> [UInt8] {
    try payload.withUnsafeBytes { try ProtoCodec.referenceSequenceExample($0) }.serialized()
}

func readBytes(_ path: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path) ?? Data()) }

func writeBytes(_ bytes: [UInt8], to path: String) { precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)") }

// MARK: - Protobuf wire builders for hand-made payloads

func varint(_ value: UInt64) -> [UInt8] {
    var v = value, out: [UInt8] = []
    while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
    out.append(UInt8(v))
    return out
}

/// A length-delimited field.
func field(_ number: Int, _ bytes: [UInt8]) -> [UInt8] {
    varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes
}

func varintField(_ number: Int, _ value: UInt64) -> [UInt8] { varint(UInt64(number << 3)) + varint(value) }

func fixed32Field(_ number: Int, _ value: Float) -> [UInt8] {
    varint(UInt64(number << 3 | 5)) + withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
}

/// Example { features { feature { key: value } … } } from already-encoded Feature messages.
func exampleBytes(_ entries: [(String, [UInt8])]) -> [UInt8] {
    field(1, entries.flatMap { key, feature in field(1, field(1, Array(key.utf8)) + field(2, feature)) })
}
