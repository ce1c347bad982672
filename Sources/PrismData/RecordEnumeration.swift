// Records of several files numbered across them in input order, and exact slices of that numbering: how
// `prism convert` cuts shards and splits work between machines (--shard-index/--shard-count), and how batch
// inference (`prism ask --batch`) and a Ray driver split their inputs.
//
//     let files = try RecordFiles(tfrecords: paths)          // or RecordFiles(jsonl: paths)
//     let mine = ShardSlice(index: i, count: n).range(of: files.total)
//     var skipped: [TFRecordError] = []
//     try files.forEach(in: mine, skipped: &skipped) { record in
//         … record.number (global), record.file / record.index (where), record.bytes (payload or JSON line) …
//     }
//
// A record number counts every TFRecord frame (corrupt or not) or every non-blank JSONL line, so every machine
// numbers the same way and the slices of n workers neither overlap nor leave a gap: together they see exactly
// the records one machine sees. With `skipCorrupt`, a frame whose payload CRC fails keeps its number and is
// reported (in `skipped`) by whichever slice holds it; a broken frame header ends its file at counting time, and
// is reported once, in `skippedWhileCounting`. Counting reads only record headers (uncompressed files seek past
// payloads), or nothing at all where `prism index` left a current `.tfindex` (which also lets a slice start
// with a seek).
import Foundation

/// Which part of `count` equal parts a worker takes: records `index·total/count ..< (index+1)·total/count`.
public struct ShardSlice: Equatable, Sendable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && (0 ..< count).contains(index), "shard \(index) of \(count)")
        self.index = index
        self.count = count
    }

    public func range(of total: Int) -> Range<Int> {
        let lower = Int((Int64(index) * Int64(total)) / Int64(count))
        let upper = Int((Int64(index + 1) * Int64(total)) / Int64(count))
        return lower ..< upper
    }

    public var description: String { "\(index) of \(count)" }
}

/// One record handed to `RecordFiles.forEach`; `bytes` is valid only during the call.
public struct RecordRef {
    /// Global record number, across all files.
    public let number: Int
    /// Index of the file in `RecordFiles.files`, and the record's index within it.
    public let file: Int
    public let index: Int
    /// JSONL: the 1-based line number. TFRecord: 0.
    public let line: Int
    /// TFRecord: offset of the record's header (decompressed bytes). JSONL: 0.
    public let offset: UInt64
    /// The TFRecord payload, or the JSONL line without its newline.
    public let bytes: UnsafeRawBufferPointer
}

public struct RecordFiles: Sendable {
    public enum Format: Sendable { case tfrecord, jsonl }

    public let format: Format
    public let files: [String]
    /// Records in each file, and the global number of each file's first record.
    public let counts: [Int]
    public let starts: [Int]
    public var total: Int { (starts.last ?? 0) + (counts.last ?? 0) }
    /// TFRecord: nil sniffs each file.
    public let compression: TFRecordCompression?
    public let skipCorrupt: Bool
    /// Broken frame headers found while counting (with `skipCorrupt`), in input order.
    public let skippedWhileCounting: [TFRecordError]
    /// Per file: the index it was counted from, for seeking (uncompressed files only).
    private let indexes: [TFRecordIndex.Loaded?]

    /// TFRecord files; counting reads headers (or a current `.tfindex`), never payloads.
    public init(tfrecords files: [String], compression: TFRecordCompression? = nil, skipCorrupt: Bool = false,
                useIndexes: Bool = true) throws {
        let found = Locked([(count: Int, skipped: [TFRecordError], index: TFRecordIndex.Loaded?)](repeating: (0, [], nil), count: files.count))
        try parallelFor(files.count) { i in
            let reader = try TFRecordReader(path: files[i], compression: compression, skipCorrupt: skipCorrupt)
            if useIndexes, let index = try TFRecordIndex.current(for: files[i], fileSize: reader.fileSize,
                                                                 compressed: reader.compression != .none) {
                found.withLock { $0[i] = (index.count, [], reader.compression == .none ? index : nil) }
                return
            }
            var skipped: [TFRecordError] = []
            do {
                try reader.skipFrames(.max)
            } catch let error as TFRecordError where skipCorrupt && error.location?.file == files[i] {
                skipped.append(error)   // the rest of the file cannot be framed
            }
            let count = reader.recordIndex
            found.withLock { $0[i] = (count, skipped, nil) }
        }
        let results = found.withLock { $0 }
        self.init(format: .tfrecord, files: files, counts: results.map(\.count), compression: compression,
                  skipCorrupt: skipCorrupt, skipped: results.flatMap(\.skipped), indexes: results.map(\.index))
    }

    /// JSONL files: one record per non-blank line.
    public init(jsonl files: [String]) throws {
        let counts = Locked([Int](repeating: 0, count: files.count))
        try parallelFor(files.count) { i in
            var n = 0
            try LineReader.forEachLine(files[i]) { _, _ in
                n += 1
                return true
            }
            counts.withLock { $0[i] = n }
        }
        self.init(format: .jsonl, files: files, counts: counts.withLock { $0 }, compression: nil, skipCorrupt: false,
                  skipped: [], indexes: Array(repeating: nil, count: files.count))
    }

    private init(format: Format, files: [String], counts: [Int], compression: TFRecordCompression?, skipCorrupt: Bool,
                 skipped: [TFRecordError], indexes: [TFRecordIndex.Loaded?]) {
        self.format = format
        self.files = files
        self.counts = counts
        var starts: [Int] = []
        var next = 0
        for count in counts {
            starts.append(next)
            next += count
        }
        self.starts = starts
        self.compression = compression
        self.skipCorrupt = skipCorrupt
        skippedWhileCounting = skipped
        self.indexes = indexes
    }

    /// Calls `body` for every record numbered in `range`, in order. Corrupt TFRecord payloads in the range are
    /// appended to `skipped` with `skipCorrupt`, thrown without.
    public func forEach(in range: Range<Int>, skipped: inout [TFRecordError], _ body: (RecordRef) throws -> Void) throws {
        let range = range.clamped(to: 0 ..< total)
        for file in files.indices {
            let local = range.clamped(to: starts[file] ..< starts[file] + counts[file])
            guard !local.isEmpty else { continue }
            let first = local.lowerBound - starts[file], last = local.upperBound - starts[file]
            switch format {
            case .tfrecord: try forEachFrame(file, first ..< last, &skipped, body)
            case .jsonl: try forEachLine(file, first ..< last, body)
            }
        }
    }

    private func forEachFrame(_ file: Int, _ local: Range<Int>, _ skipped: inout [TFRecordError],
                              _ body: (RecordRef) throws -> Void) throws {
        let path = files[file]
        let reader = try TFRecordReader(path: path, compression: compression)
        let index = indexes[file]
        func startAt(_ record: Int) throws {
            if let index { try reader.seek(toOffset: index.offsets[record], record: record) }
            else if try reader.skipFrames(record - reader.recordIndex) + reader.recordIndex < record {
                throw shortFile(path, record)
            }
        }
        if local.lowerBound > 0 { try startAt(local.lowerBound) }
        var i = local.lowerBound
        while i < local.upperBound {
            let offset = reader.offset
            let payload: UnsafeRawBufferPointer
            do {
                guard let next = try reader.nextFrame() else { throw shortFile(path, i) }
                payload = next
            } catch let error as TFRecordError where skipCorrupt && error.location?.file == path {
                skipped.append(error)
                i += 1
                if case .corruptedData = error { continue }
                // A broken header: only an index knows where the next record starts.
                guard index != nil, i < local.upperBound else { return }
                try startAt(i)
                continue
            }
            try body(RecordRef(number: starts[file] + i, file: file, index: i, line: 0, offset: offset, bytes: payload))
            i += 1
        }
    }

    private func forEachLine(_ file: Int, _ local: Range<Int>, _ body: (RecordRef) throws -> Void) throws {
        var index = 0
        try LineReader.forEachLine(files[file]) { line, number in
            defer { index += 1 }
            guard index >= local.lowerBound else { return true }
            try body(RecordRef(number: starts[file] + index, file: file, index: index, line: number, offset: 0, bytes: line))
            return index + 1 < local.upperBound
        }
    }

    private func shortFile(_ path: String, _ record: Int) -> TFRecordError {
        .invalidInput(file: path, line: 0, message: "the file ends at record \(record), before the \(counts[files.firstIndex(of: path) ?? 0]) records counted (changed while being read, or a stale .tfindex)")
    }
}

// MARK: - Lines

/// Streams the non-blank lines of a file through a 1 MiB buffer.
enum LineReader {
    /// `body(line, lineNumber)` returns false to stop early.
    static func forEachLine(_ path: String, _ body: (UnsafeRawBufferPointer, Int) throws -> Bool) throws {
        let file = try FileSource(path: path)
        var capacity = streamChunkSize
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var start = 0, end = 0, number = 0, ended = false
        while true {
            // Emit every complete line in the buffer.
            while let newline = memchr(buffer + start, 0x0A, end - start) {
                let stop = buffer.distance(to: newline)
                number += 1
                let line = UnsafeRawBufferPointer(start: buffer + start, count: stop - start)
                start = stop + 1
                if !isBlank(line), try !body(line, number) { return }
            }
            if ended {
                if end > start {
                    number += 1
                    let line = UnsafeRawBufferPointer(start: buffer + start, count: end - start)
                    if !isBlank(line) { _ = try body(line, number) }
                }
                return
            }
            if start > 0 {
                memmove(buffer, buffer + start, end - start)
                end -= start
                start = 0
            }
            if end == capacity {   // a line longer than the buffer
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                bigger.copyMemory(from: buffer, byteCount: end)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
            let n: Int
            do { n = try file.read(into: buffer + end, count: capacity - end) }
            catch StreamFailure.io(let function, let message) { throw TFRecordError.io(file: path, function: function, message: message) }
            if n == 0 { ended = true }
            end += n
        }
    }

    static func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }
}
