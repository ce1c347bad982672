// The rows of a batch job: records of JSONL or TFRecord files numbered across all of them (PrismData's
// RecordFiles, the numbering `prism convert` shards by), cut to this worker's exact slice.
import Foundation
import PrismData

public struct BatchInput {
    public let files: RecordFiles
    /// This worker's records (global numbers): all of them, or its `--shard-index/--shard-count` slice.
    public let range: Range<Int>

    /// `paths` are all JSONL (`.jsonl`/`.json`) or all TFRecord files (compression sniffed).
    public init(paths: [String], slice: ShardSlice? = nil) throws {
        guard !paths.isEmpty else { throw BatchError.noInput }
        let jsonl = paths.map { $0.lowercased() }.filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".json") }
        if !jsonl.isEmpty && jsonl.count != paths.count { throw BatchError.mixedInputs }
        for path in paths where !FileManager.default.fileExists(atPath: path) { throw BatchError.missingInput(path) }
        let files = jsonl.isEmpty ? try RecordFiles(tfrecords: paths) : try RecordFiles(jsonl: paths)
        self.files = files
        range = slice.map { $0.range(of: files.total) } ?? 0 ..< files.total
    }

    /// Calls `body` with every record of the range from `start` on, in order: its fields, or why it cannot be read
    /// (a JSONL line that is not a JSON object, a TFRecord payload whose CRC fails, a payload that is not a
    /// tf.Example). Errors that leave the files unreadable from there on (I/O, a broken frame header) are thrown.
    public func forEach(from start: Int, _ body: (Int, Result<RowFields, Error>) throws -> Void) throws {
        var next = max(start, range.lowerBound)
        while next < range.upperBound {
            var unused: [TFRecordError] = []
            do {
                try files.forEach(in: next ..< range.upperBound, skipped: &unused) { record in
                    let fields = Result { try RowFields(record, in: files) }
                    do { try body(record.number, fields) } catch { throw BodyError(error: error) }
                    next = record.number + 1
                }
                return
            } catch let wrapped as BodyError {
                throw wrapped.error
            } catch let error as TFRecordError {
                // A payload that fails its CRC is one bad row; the rest of the file still reads (from the next record).
                guard case .corruptedData = error else { throw error }
                try body(next, .failure(error))
                next += 1
            }
        }
    }

    private struct BodyError: Error { let error: Error }
}

public enum BatchError: Error, CustomStringConvertible, Equatable {
    case noInput
    case mixedInputs
    case missingInput(String)
    /// `--resume` found an output that does not continue this job's records.
    case resumeMismatch(file: String, line: Int, message: String)
    /// A row the job was told to stop at (`--on-error stop`).
    case stopped(String)

    public var description: String {
        switch self {
        case .noInput: "no input files"
        case .mixedInputs: "the inputs mix JSONL and TFRecord files: give one kind"
        case let .missingInput(path): "\(path): no such file"
        case let .resumeMismatch(file, line, message): line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
        case let .stopped(message): message
        }
    }
}
