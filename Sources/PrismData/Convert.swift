// Conversions behind `prism convert`: TFRecord → JSONL + image files (original bytes) + schema, JSONL or an image
// folder → TFRecord shards, and TFRecord → TFRecord (re-sharding, re-compression).
//
// Every job is cut the same way: the inputs' records are numbered across files (RecordEnumeration.swift) and
// output shard s of S holds records s·T/S ..< (s+1)·T/S. Shards are written in parallel. With a `slice` (worker
// i of n: --shard-index / --shard-count) a run writes only shards `slice.range(of: S)`, so n workers together
// write exactly the files one machine writes.
//
// Outputs are atomic per file: each is written under a temporary name and renamed when complete (a JSONL shard's
// images go to a staging folder that is renamed into place just before the JSONL), so after a crash `resume`
// skips the finished ones. A run that fails — a full disk, a bad record — takes back what it had published, so
// it leaves nothing under a final name.
import CZlib
import Foundation

public enum ShardPlan: Equatable, Sendable {
    case shards(Int)
    case recordsPerShard(Int)

    func count(total: Int) -> Int {
        switch self {
        case .shards(let n): return max(1, n)
        case .recordsPerShard(let r): return max(1, (total + max(1, r) - 1) / max(1, r))
        }
    }
}

public struct ConvertOptions: Sendable {
    public var featureMap = FeatureMap.conventional
    /// nil: sniff each input.
    public var inputCompression: TFRecordCompression?
    public var outputCompression: TFRecordCompression = .none
    public var compressionLevel = Z_DEFAULT_COMPRESSION
    /// Output files: TFRecord shards, or JSONL files (one shard: `<name>.jsonl`).
    public var shards = ShardPlan.shards(1)
    /// This worker's part (`--shard-index`/`--shard-count`): output shards `slice.range(of: shard count)`.
    public var slice: ShardSlice?
    /// Shard files are `<name>-00000-of-00008.tfrecord[.gz]` / `.jsonl`.
    public var name = "data"
    public var skipCorrupt = false
    public var resume = false
    /// JSONL input: clamp out-of-range numbers and read booleans as 1 / 0 instead of refusing them.
    public var lossy = false
    /// JSONL input: the schema of every input (default: each file's own `<stem>.schema.json`, if there is one).
    public var schemaPath: String?
    public var progress: ConvertProgress?

    public init() {}
}

public struct ConvertReport: Sendable {
    /// Records written in this run (finished shards skipped by `resume` not counted).
    public var records = 0
    /// The data files of the shards this run is responsible for (written or resumed), in shard order.
    public var outputs: [String] = []
    public var resumed: [String] = []
    /// With `skipCorrupt`: every record given up on, in input order.
    public var skipped: [TFRecordError] = []
    /// With `lossy`: values changed to fit (clamped, rounded to ±inf or 0, booleans).
    public var lossyValues = 0
}

/// `name-00003-of-00008.tfrecord.gz`
public func shardFileName(_ name: String, index: Int, count: Int, compression: TFRecordCompression) -> String {
    "\(name)-\(fiveDigits(index))-of-\(fiveDigits(count)).tfrecord\(compression.fileSuffix)"
}

/// `data.jsonl` for a single shard, else `data-00003-of-00008.jsonl`; its schema is `<stem>.schema.json` and its
/// images are in `images/<stem>/`.
public func jsonlFileName(_ name: String, index: Int, count: Int) -> String {
    (count == 1 ? name : "\(name)-\(fiveDigits(index))-of-\(fiveDigits(count))") + ".jsonl"
}

private func fiveDigits(_ n: Int) -> String {
    let s = String(n)
    return String(repeating: "0", count: max(0, 5 - s.count)) + s
}

// MARK: - Progress

/// Records and bytes done, shared by the workers; `onUpdate` is called at most every `interval` seconds.
public final class ConvertProgress: @unchecked Sendable {
    public struct Snapshot: Sendable {
        public var records: Int
        public var bytes: UInt64
        public var totalRecords: Int?
        public var seconds: Double
    }

    private let lock = NSLock()
    private var records = 0
    private var bytes: UInt64 = 0
    private var total: Int?
    private var lastReport = 0.0
    private let started = Date()
    public let interval: Double
    private let onUpdate: @Sendable (Snapshot) -> Void

    public init(interval: Double = 0.2, onUpdate: @escaping @Sendable (Snapshot) -> Void) {
        self.interval = interval
        self.onUpdate = onUpdate
    }

    func setTotal(_ records: Int?) { lock.withLock { total = records } }

    func add(records newRecords: Int, bytes newBytes: UInt64) {
        let snapshot: Snapshot? = lock.withLock {
            records += newRecords
            bytes += newBytes
            let now = Date().timeIntervalSince(started)
            guard now - lastReport >= interval else { return nil }
            lastReport = now
            return Snapshot(records: records, bytes: bytes, totalRecords: total, seconds: now)
        }
        if let snapshot { onUpdate(snapshot) }
    }

    public var snapshot: Snapshot {
        lock.withLock { Snapshot(records: records, bytes: bytes, totalRecords: total, seconds: Date().timeIntervalSince(started)) }
    }
}

/// Batches progress updates so that workers take the lock every few hundred records, not every record.
struct ProgressBatch {
    let progress: ConvertProgress?
    var records = 0
    var bytes: UInt64 = 0

    @inline(__always)
    mutating func add(_ size: Int) {
        records += 1
        bytes += UInt64(size)
        if records >= 256 || bytes >= 4 << 20 { flush() }
    }

    mutating func flush() {
        if records > 0 { progress?.add(records: records, bytes: bytes) }
        records = 0
        bytes = 0
    }
}

// MARK: - Shards, publishing, rolling back

/// The shards of a job and the ones this run writes.
struct ShardJob {
    let total: Int
    let count: Int
    let mine: Range<Int>

    init(total: Int, options: ConvertOptions) {
        self.total = total
        count = options.shards.count(total: total)
        mine = options.slice?.range(of: count) ?? 0 ..< count
    }

    func records(_ shard: Int) -> Range<Int> { ShardSlice(index: shard, count: count).range(of: total) }

    /// The shard that reports a problem found at record `number` (one past the last record: the last shard).
    func shard(of number: Int) -> Int {
        guard total > 0 else { return 0 }
        let n = min(max(0, number), total - 1)
        var shard = Int((Int64(n) * Int64(count)) / Int64(total))
        while shard > 0 && records(shard).lowerBound > n { shard -= 1 }
        while shard < count - 1 && records(shard).upperBound <= n { shard += 1 }
        return shard
    }
}

/// What a run has put under final names, so that a run that fails can take it back.
final class Publications: @unchecked Sendable {
    private let published = Locked<[String]>([])

    /// Renames a finished temporary file or folder to its final name.
    func rename(_ temporary: String, to final: String) throws {
        if Foundation.rename(temporary, final) != 0 { throw systemError("rename", final) }
        published.withLock { $0.append(final) }
    }

    func record(_ final: String) { published.withLock { $0.append(final) } }

    /// Removes everything published, newest first.
    func rollBack() {
        for path in published.withLock({ $0 }).reversed() { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// Runs `body(shard)` for this run's shards in parallel; if any fails, the others stop and the run's published
/// files are removed before the error is rethrown.
func runShards(_ job: ShardJob, _ publications: Publications, _ body: (Int, Cancellation) throws -> Void) throws {
    let cancellation = Cancellation()
    do {
        try parallelFor(job.mine.count, cancellation: cancellation) { try body(job.mine.lowerBound + $0, cancellation) }
    } catch {
        publications.rollBack()
        throw error
    }
}

private func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// With `resume`, a shard whose output is there (published by an earlier run) counts as done.
private func alreadyDone(_ output: String, _ range: Range<Int>, _ options: ConvertOptions, _ report: Locked<ConvertReport>) -> Bool {
    guard options.resume && fileExists(output) else { return false }
    options.progress?.add(records: range.count, bytes: 0)
    report.withLock { $0.resumed.append(output) }
    return true
}

func createDirectory(_ path: String) throws {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    catch { throw TFRecordError.io(file: path, function: "mkdir", message: error.localizedDescription) }
}

/// Skip reports in input order: by file, then by place in the file.
private func inInputOrder(_ errors: [TFRecordError], files: [String]) -> [TFRecordError] {
    var rank: [String: Int] = [:]
    for (i, file) in files.enumerated() where rank[file] == nil { rank[file] = i }
    func key(_ error: TFRecordError) -> (Int, UInt64) {
        if case .invalidInput(let file, let line, _) = error { return (rank[file] ?? Int.max, UInt64(line)) }
        return (rank[error.location?.file ?? ""] ?? Int.max, error.location?.offset ?? 0)
    }
    return errors.enumerated().sorted { a, b in
        let x = key(a.element), y = key(b.element)
        return (x.0, x.1, a.offset) < (y.0, y.1, b.offset)
    }.map(\.element)
}

// MARK: - Sources of serialized examples

/// Serialized records by global number, for writing TFRecord shards.
protocol ExampleSource {
    var total: Int { get }
    var files: [String] { get }
    /// Problems found while counting, each at the record number where it stands.
    var countingErrors: [(number: Int, error: TFRecordError)] { get }
    /// Calls `body` with each record's payload in `range`; records given up on under `skipCorrupt` go to `skipped`.
    func forEach(in range: Range<Int>, skipped: inout [TFRecordError], lossyValues: inout Int,
                 _ body: (UnsafeRawBufferPointer) throws -> Void) throws
}

extension RecordFiles {
    /// Each framing error found while counting stands at the number just past its file's last readable record.
    var countingErrors: [(number: Int, error: TFRecordError)] {
        skippedWhileCounting.map { error in
            let file = files.firstIndex(of: error.location?.file ?? "") ?? 0
            return (starts[file] + counts[file], error)
        }
    }
}

/// TFRecord files, payloads copied as they are (CRCs checked on the way).
struct TFRecordSource: ExampleSource {
    let records: RecordFiles
    var total: Int { records.total }
    var files: [String] { records.files }
    var countingErrors: [(number: Int, error: TFRecordError)] { records.countingErrors }

    func forEach(in range: Range<Int>, skipped: inout [TFRecordError], lossyValues: inout Int,
                 _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try records.forEach(in: range, skipped: &skipped) { try body($0.bytes) }
    }
}

/// JSONL files, one example per non-blank line, each file read with its own schema.
struct JSONLSource: ExampleSource {
    let records: RecordFiles
    let readers: [JSONLRowReader]
    let skipCorrupt: Bool
    var total: Int { records.total }
    var files: [String] { records.files }
    var countingErrors: [(number: Int, error: TFRecordError)] { [] }

    init(files: [String], options: ConvertOptions) throws {
        records = try RecordFiles(jsonl: files)
        let shared = try options.schemaPath.map(JSONLSchema.read)
        readers = try files.map { file in
            let sidecar = JSONLSchema.path(forJSONL: file)
            let schema = try shared ?? (fileExists(sidecar) ? JSONLSchema.read(sidecar) : nil)
            return JSONLRowReader(file: file, map: options.featureMap, schema: schema, lossy: options.lossy)
        }
        skipCorrupt = options.skipCorrupt
    }

    func forEach(in range: Range<Int>, skipped: inout [TFRecordError], lossyValues: inout Int,
                 _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var unused: [TFRecordError] = []
        try records.forEach(in: range, skipped: &unused) { record in
            let payload: [UInt8]
            do {
                payload = try readers[record.file].payload(record.bytes, number: record.line, lossyValues: &lossyValues)
            } catch let error as TFRecordError where skipCorrupt {
                if case .io = error { throw error }
                skipped.append(error)
                return
            }
            try payload.withUnsafeBytes(body)
        }
    }
}

// MARK: - Writing TFRecord shards

func writeShards(_ source: ExampleSource, to directory: String, options: ConvertOptions) throws -> ConvertReport {
    try createDirectory(directory)
    let job = ShardJob(total: source.total, options: options)
    options.progress?.setTotal(job.mine.reduce(0) { $0 + job.records($1).count })
    let report = Locked(ConvertReport())
    let publications = Publications()
    let counting = source.countingErrors
    let path = { (shard: Int) in
        directory + "/" + shardFileName(options.name, index: shard, count: job.count, compression: options.outputCompression)
    }
    try runShards(job, publications) { shard, cancellation in
        let output = path(shard)
        let range = job.records(shard)
        var skipped = counting.filter { job.shard(of: $0.number) == shard }.map(\.error)
        defer { report.withLock { $0.skipped += skipped } }
        if alreadyDone(output, range, options, report) { return }
        let writer = try TFRecordWriter(path: output, compression: options.outputCompression, level: options.compressionLevel)
        var batch = ProgressBatch(progress: options.progress)
        var lossy = 0
        try source.forEach(in: range, skipped: &skipped, lossyValues: &lossy) { payload in
            if writer.recordCount & 63 == 63 { try cancellation.check() }
            try writer.write(payload)
            batch.add(payload.count)
        }
        try writer.close()
        publications.record(output)
        batch.flush()
        report.withLock {
            $0.records += writer.recordCount
            $0.lossyValues += lossy
        }
    }
    var result = report.withLock { $0 }
    result.outputs = job.mine.map(path)
    result.resumed.sort()
    result.skipped = inInputOrder(result.skipped, files: source.files)
    return result
}

/// TFRecord files → shards (payloads copied as they are, CRCs checked on the way).
public func convertTFRecords(_ inputs: [String], toShardsIn directory: String, options: ConvertOptions) throws -> ConvertReport {
    let records = try RecordFiles(tfrecords: inputs, compression: options.inputCompression, skipCorrupt: options.skipCorrupt)
    return try writeShards(TFRecordSource(records: records), to: directory, options: options)
}

/// JSONL files → shards. Each file is read with its schema (`<stem>.schema.json` beside it, or
/// `options.schemaPath`); without one, columns are named by `options.featureMap` and kinds read from the values.
public func convertJSONL(_ inputs: [String], toShardsIn directory: String, options: ConvertOptions) throws -> ConvertReport {
    try writeShards(JSONLSource(files: inputs, options: options), to: directory, options: options)
}

/// A folder of JPEG/PNG files → shards of tf.Examples as TensorFlow's image converters write them (see
/// ImageFolderSource).
public func convertImageFolder(_ folder: String, toShardsIn directory: String, options: ConvertOptions) throws -> ConvertReport {
    try writeShards(ImageFolderSource(root: folder, skipCorrupt: options.skipCorrupt), to: directory, options: options)
}

// MARK: - TFRecord → JSONL

/// TFRecord files → `<directory>/<name>.jsonl` (or one JSONL file per shard), each with its schema
/// (`<stem>.schema.json`) and its images (`images/<stem>/<input>-<record>.jpg`, the original bytes).
public func convertTFRecordsToJSONL(_ inputs: [String], in directory: String, options: ConvertOptions) throws -> ConvertReport {
    try createDirectory(directory)
    let records = try RecordFiles(tfrecords: inputs, compression: options.inputCompression, skipCorrupt: options.skipCorrupt)
    let job = ShardJob(total: records.total, options: options)
    options.progress?.setTotal(job.mine.reduce(0) { $0 + job.records($1).count })
    let stems = uniqueStems(inputs)
    let report = Locked(ConvertReport())
    let publications = Publications()
    let counting = records.countingErrors
    try runShards(job, publications) { shard, cancellation in
        let file = jsonlFileName(options.name, index: shard, count: job.count)
        let stem = String(file.dropLast(6))
        let output = directory + "/" + file
        let range = job.records(shard)
        var skipped = counting.filter { job.shard(of: $0.number) == shard }.map(\.error)
        defer { report.withLock { $0.skipped += skipped } }
        if alreadyDone(output, range, options, report) { return }
        let staging = directory + "/." + stem + ".images.partial"
        let schemaPath = JSONLSchema.path(forJSONL: output)
        try? FileManager.default.removeItem(atPath: staging)   // left by a crashed run
        let files = BackgroundFileWriter()
        defer {
            files.waitForAll()
            try? FileManager.default.removeItem(atPath: staging)
            unlink(output + ".partial")
            unlink(schemaPath + ".partial")
        }
        // Rows are written once; a second time only if a bytes column turns out not to be UTF-8 throughout, so
        // that the column can be base64 in every row.
        var base64Columns: Set<JSONLRowWriter.ColumnKey> = []
        var writer: JSONLRowWriter
        var sink: FileSink
        var count = 0
        var undecodable: [TFRecordError] = []
        let skippedWhileCounting = skipped
        repeat {
            try? FileManager.default.removeItem(atPath: staging)
            writer = JSONLRowWriter(map: options.featureMap, imageDirectory: staging, imagePrefix: "images/" + stem + "/",
                                    base64Columns: base64Columns, files: files)
            sink = try FileSink(path: output + ".partial")
            var batch = ProgressBatch(progress: base64Columns.isEmpty ? options.progress : nil)
            count = 0
            undecodable = []
            skipped = skippedWhileCounting
            try records.forEach(in: range, skipped: &skipped) { record in
                if count & 63 == 63 { try cancellation.check() }
                batch.add(record.bytes.count)
                do {
                    try writer.append(record.bytes) { stems[record.file] + "-" + sixDigits(record.index) }
                } catch TFRecordError.invalidExample(nil, let reason) {
                    let error = TFRecordError.invalidExample(RecordLocation(file: inputs[record.file], record: record.index, offset: record.offset), reason: reason)
                    guard options.skipCorrupt else { throw error }
                    undecodable.append(error)
                    return
                }
                count += 1
                if writer.out.count >= streamChunkSize { try writer.out.drain(into: sink) }
            }
            batch.flush()
            try files.finish()
            base64Columns.formUnion(writer.newBase64Columns)
        } while !writer.newBase64Columns.isEmpty
        skipped += undecodable
        try writer.out.drain(into: sink)
        if fsync(sink.descriptor) != 0 { throw systemError("fsync", output + ".partial") }
        try sink.close()
        try writer.schema.schema().encoded().withUnsafeBytes { try FileSink.write($0, to: schemaPath + ".partial") }
        // Publish the images, the schema, then the JSONL: a JSONL under its final name always has its images.
        if writer.imagesWritten > 0 {
            let images = directory + "/images/" + stem
            try createDirectory(directory + "/images")
            try? FileManager.default.removeItem(atPath: images)   // a crashed run's, whose JSONL never appeared
            try publications.rename(staging, to: images)
        }
        try publications.rename(schemaPath + ".partial", to: schemaPath)
        try publications.rename(output + ".partial", to: output)
        report.withLock { $0.records += count }
    }
    var result = report.withLock { $0 }
    result.outputs = job.mine.map { directory + "/" + jsonlFileName(options.name, index: $0, count: job.count) }
    result.resumed.sort()
    result.skipped = inInputOrder(result.skipped, files: inputs)
    return result
}

private func sixDigits(_ n: Int) -> String {
    let s = String(n)
    return s.count >= 6 ? s : String(repeating: "0", count: 6 - s.count) + s
}

/// File names without extensions, made unique (`train-00000-of-00002`).
private func uniqueStems(_ paths: [String]) -> [String] {
    var seen: [String: Int] = [:]
    return paths.map { path in
        var stem = (path as NSString).lastPathComponent
        for suffix in [".gz", ".zz", ".zlib", ".tfrecords", ".tfrecord"] where stem.hasSuffix(suffix) { stem.removeLast(suffix.count) }
        stem = sanitizedFileName(stem)
        let n = seen[stem, default: 0]
        seen[stem] = n + 1
        return n == 0 ? stem : "\(stem)_\(n)"
    }
}

func readWholeFile(_ path: String) throws -> [UInt8] {
    let file = try FileSource(path: path)
    do {
        return try [UInt8](unsafeUninitializedCapacity: Int(file.size)) { buffer, count in
            count = try buffer.baseAddress.map { try file.readFully(into: $0, count: Int(file.size)) } ?? 0
        }
    } catch StreamFailure.io(let function, let message) {
        throw TFRecordError.io(file: path, function: function, message: message)
    }
}
