// Where a batch job's rows go: one JSON line per input record, in record order, each starting with
// {"record":N,…}. Rows are appended to OUT.partial as they are done (one write per engine step) and the file
// is renamed to OUT only when the job's whole range is written, so OUT is always complete and a crashed or
// killed run leaves only OUT.partial. `--resume` continues OUT.partial after its last complete line (a line
// cut short by the crash is dropped and redone); it refuses a file whose rows are not this job's records.
import Foundation
import PrismData

public final class BatchOutput {
    public let path: String
    public var partialPath: String { path + ".partial" }
    public let range: Range<Int>
    /// The next record to write (`range.upperBound` when all are written).
    public private(set) var next: Int
    /// Complete rows found by `--resume` (kept, not redone).
    public let resumedRows: Int
    /// `--resume` found OUT already finished: there is nothing to do.
    public let alreadyComplete: Bool
    private var fd: Int32 = -1
    private var pending: [UInt8] = []

    /// Opens OUT.partial for this job's records: empty, or, with `resume`, continued after its last complete row.
    public init(path: String, range: Range<Int>, resume: Bool) throws {
        self.path = path
        self.range = range
        let fm = FileManager.default
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let partial = path + ".partial"
        if resume && !fm.fileExists(atPath: partial) && fm.fileExists(atPath: path) {
            let rows = try Self.completeRows(path, range: range, cut: false)
            guard rows == range.count else {
                throw BatchError.resumeMismatch(file: path, line: 0, message: "has \(rows) rows but the job has \(range.count) records (\(range.lowerBound)..<\(range.upperBound))")
            }
            next = range.upperBound
            resumedRows = rows
            alreadyComplete = true
            return
        }
        alreadyComplete = false
        if resume && fm.fileExists(atPath: partial) {
            resumedRows = try Self.completeRows(partial, range: range, cut: true)
            fd = open(partial, O_WRONLY | O_APPEND | O_CLOEXEC)
        } else {
            resumedRows = 0
            fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { throw ioError("open", partial) }
        next = range.lowerBound + resumedRows
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Queues the row of record `next` (a JSON object without its newline); written at the next `flush`.
    public func append(_ line: String, record: Int) {
        precondition(record == next && next < range.upperBound, "BatchOutput: row for record \(record), expected \(next)")
        pending += line.utf8
        pending.append(0x0A)
        next += 1
    }

    /// Writes the queued rows.
    public func flush() throws {
        var offset = 0
        while offset < pending.count {
            let n = pending[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write", partialPath)
            }
            offset += n
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and renames OUT.partial to OUT; every record of the range must be written.
    public func finish() throws {
        guard !alreadyComplete else { return }
        precondition(next == range.upperBound, "BatchOutput.finish with records \(next)..<\(range.upperBound) unwritten")
        try flush()
        guard fsync(fd) == 0 else { throw ioError("fsync", partialPath) }
        close(fd)
        fd = -1
        guard rename(partialPath, path) == 0 else { throw ioError("rename", path) }
    }

    /// Counts the complete rows of `file` and checks they are records range.lowerBound, +1, … in order; with `cut`,
    /// truncates the file after the last complete line (a crash can leave half a line).
    static func completeRows(_ file: String, range: Range<Int>, cut: Bool) throws -> Int {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw BatchError.resumeMismatch(file: file, line: 0, message: "cannot read: \(error.localizedDescription)")
        }
        let complete = data.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        if !cut && complete != data.count {
            throw BatchError.resumeMismatch(file: file, line: 0, message: "the last line is incomplete")
        }
        var rows = 0
        for line in data[..<complete].split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
            let expected = range.lowerBound + rows
            let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            guard let record = (object?["record"] as? NSNumber)?.intValue else {
                throw BatchError.resumeMismatch(file: file, line: rows + 1, message: "not a row of a batch job (no \"record\" number): remove the file or run without --resume")
            }
            guard record == expected, range.contains(record) else {
                throw BatchError.resumeMismatch(file: file, line: rows + 1, message: "row for record \(record), but this job's next record is \(expected) of \(range.lowerBound)..<\(range.upperBound) (another input or shard?): remove the file or run without --resume")
            }
            rows += 1
        }
        if cut && complete != data.count {
            guard truncate(file, off_t(complete)) == 0 else { throw ioError("truncate", file) }
        }
        return rows
    }
}

func ioError(_ function: String, _ file: String) -> TFRecordError {
    .io(file: file, function: function, message: String(cString: strerror(errno)))
}
