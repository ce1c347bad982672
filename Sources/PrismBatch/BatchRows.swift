// What `ask --batch` and `segment --batch` share: rows finish out of order but are written in record order,
// a bad row becomes an error row or stops the job, and progress is counted as rows are written.
import Foundation
import PrismData

/// What to do with a row that cannot be answered (missing or undecodable image, missing column, bad JSON line).
public enum BadRowPolicy: String, Sendable, CaseIterable {
    /// Write {"record":N,…,"error":"…","finish_reason":"error"} and go on.
    case row
    /// Write every row before it, then stop the job with the row's error (`--resume` continues from it).
    case stop
}

public struct BatchProgress: Sendable {
    /// Rows written in this run (resumed rows not counted), and this run's total.
    public var rows = 0
    public var total = 0
    public var errors = 0
    /// Tokens generated (ask) or masks predicted (segment) in this run.
    public var outputs = 0
    public var seconds = 0.0
    public init() {}
}

/// Collects finished rows by record number and writes them in order to a `BatchOutput`.
final class OrderedRows {
    let output: BatchOutput
    let policy: BadRowPolicy
    private var ready: [Int: String] = [:]
    private(set) var progress = BatchProgress()
    private let started = Date()
    private let onProgress: ((BatchProgress) -> Void)?

    init(output: BatchOutput, policy: BadRowPolicy, onProgress: ((BatchProgress) -> Void)?) {
        self.output = output
        self.policy = policy
        self.onProgress = onProgress
        progress.total = output.range.upperBound - output.next
    }

    /// The row of `record`: "record", then "id" where the row has one, then `members` (`"answer":…`, without braces).
    func done(_ record: Int, id: String?, _ members: String, outputs: Int = 0) {
        let parts = ["\"record\":\(record)", id.map { "\"id\":\($0)" }, members.isEmpty ? nil : members]
        ready[record] = "{" + parts.compactMap { $0 }.joined(separator: ",") + "}"
        progress.outputs += outputs
    }

    /// A row's `--id-key` column as JSON (nil without the option); a row without the column is a bad row.
    static func id(of row: RowFields, key: String?) throws -> String? {
        guard let key else { return nil }
        guard let id = try row.scalarJSON(key) else {
            throw RowFieldError(location: row.location, key: key, message: "missing (the --id-key column)")
        }
        return id
    }

    /// A bad row: queued as an error row, or, under `.stop`, thrown once the rows before it are written.
    func failed(_ record: Int, id: String?, _ message: String) throws {
        if policy == .stop {
            try write()
            throw BatchError.stopped(message)
        }
        progress.errors += 1
        done(record, id: id, "\"error\":\(jsonQuoted(message)),\"finish_reason\":\"error\"")
    }

    /// Writes every row that is next in order, then reports progress.
    func write() throws {
        while let line = ready.removeValue(forKey: output.next) {
            output.append(line, record: output.next)
            progress.rows += 1
        }
        try output.flush()
        progress.seconds = Date().timeIntervalSince(started)
        onProgress?(progress)
    }
}
