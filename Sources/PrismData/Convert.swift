// Conversions behind `prism convert`:
//   TFRecord → JSONL + image files (original bytes), JSONL or an image folder → TFRecord shards, and
//   TFRecord → TFRecord (re-sharding, re-compression). Work runs in parallel over shards; every output is
//   written under a temporary name and renamed when complete, so `resume` can skip finished ones.
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
    public var shards = ShardPlan.shards(1)
    /// Shard files are `<name>-00000-of-00008.tfrecord[.gz]`.
    public var name = "data"
    public var skipCorrupt = false
    public var resume = false
    public var progress: ConvertProgress?

    public init() {}
}

public struct ConvertReport: Sendable {
    /// Records written in this run (finished shards skipped by `resume` not counted).
    public var records = 0
    public var outputs: [String] = []
    public var resumed: [String] = []
    /// With `skipCorrupt`: every record given up on, in input order.
    public var skipped: [TFRecordError] = []
}

/// `name-00003-of-00008.tfrecord.gz`
public func shardFileName(_ name: String, index: Int, count: Int, compression: TFRecordCompression) -> String {
    func five(_ n: Int) -> String { let s = String(n); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
    return "\(name)-\(five(index))-of-\(five(count)).tfrecord\(compression.fileSuffix)"
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

// MARK: - Parallel work

final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try lock.withLock { try body(&value) } }
}

/// Runs `body(0..<count)` over the cores; rethrows the error of the lowest index.
func parallelFor(_ count: Int, _ body: (Int) throws -> Void) throws {
    let errors = Locked<[Int: Error]>([:])
    DispatchQueue.concurrentPerform(iterations: count) { i in
        do { try body(i) } catch { errors.withLock { $0[i] = error } }
    }
    let all = errors.withLock { $0 }
    if let first = all.keys.min(), let error = all[first] { throw error }
}

// MARK: - Record sources

/// Something that yields serialized records by global index, so that shards can be cut into ranges.
protocol RecordSource: Sendable {
    var count: Int { get }
    /// Records given up on while the source was indexed (under `skipCorrupt`).
    var skippedWhileIndexing: [TFRecordError] { get }
    /// Calls `body` for each record in `range`; records given up on under `skipCorrupt` are appended to `skipped`.
    func forEach(in range: Range<Int>, skipped: inout [TFRecordError], _ body: (UnsafeRawBufferPointer) throws -> Void) throws
}

extension RecordSource {
    var skippedWhileIndexing: [TFRecordError] { [] }
}

/// TFRecord files, indexed by record frame (a frame whose payload CRC fails is still counted, then skipped).
struct TFRecordSource: RecordSource {
    let files: [String]
    let counts: [Int]
    let compression: TFRecordCompression?
    let skipCorrupt: Bool
    /// A framing error (bad length, truncation) ends a file's records; found here, reported once.
    let skippedWhileIndexing: [TFRecordError]
    var count: Int { counts.reduce(0, +) }

    init(files: [String], compression: TFRecordCompression?, skipCorrupt: Bool) throws {
        self.files = files
        self.compression = compression
        self.skipCorrupt = skipCorrupt
        // Count frames without payload CRCs: framing errors still surface here, as they should.
        let found = Locked([(count: Int, skipped: [TFRecordError])](repeating: (0, []), count: files.count))
        try parallelFor(files.count) { i in
            let reader = try TFRecordReader(path: files[i], compression: compression, skipCorrupt: skipCorrupt)
            reader.verifyChecksums = false
            try reader.forEachRecord { _ in }
            found.withLock { $0[i] = (reader.recordIndex, reader.skipped) }
        }
        counts = found.withLock { $0.map(\.count) }
        skippedWhileIndexing = found.withLock { $0.flatMap(\.skipped) }
    }

    func forEach(in range: Range<Int>, skipped: inout [TFRecordError], _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try forEachFileSlice(files: files, counts: counts, range: range) { file, local in
            let reader = try TFRecordReader(path: file, compression: compression, skipCorrupt: skipCorrupt)
            reader.verifyChecksums = false
            while reader.recordIndex < local.lowerBound, try reader.withNextRecord({ _ in }) != nil {}
            reader.verifyChecksums = true
            let before = reader.skipped.count
            while reader.recordIndex < local.upperBound, try reader.withNextRecord(body) != nil {}
            skipped += reader.skipped[before...]
        }
    }
}

/// Calls `body(file, local)` for every file holding part of the global record `range` (records numbered across
/// `files` in order, `counts[i]` in file i), with `local` the file's own record indices.
func forEachFileSlice(files: [String], counts: [Int], range: Range<Int>,
                      _ body: (String, Range<Int>) throws -> Void) rethrows {
    var first = 0
    for (file, count) in zip(files, counts) {
        defer { first += count }
        let local = max(range.lowerBound, first) - first ..< min(range.upperBound, first + count) - first
        if !local.isEmpty { try body(file, local) }
    }
}

/// JSONL files, one example per non-blank line; image fields hold paths relative to the JSONL file.
struct JSONLSource: RecordSource {
    let files: [String]
    let counts: [Int]
    let map: FeatureMap
    let skipCorrupt: Bool
    var count: Int { counts.reduce(0, +) }

    init(files: [String], map: FeatureMap, skipCorrupt: Bool) throws {
        self.files = files
        self.map = map
        self.skipCorrupt = skipCorrupt
        counts = try files.map { file in
            var n = 0
            try LineReader.forEachLine(file) { _, _ in
                n += 1
                return true
            }
            return n
        }
    }

    func forEach(in range: Range<Int>, skipped: inout [TFRecordError], _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try forEachFileSlice(files: files, counts: counts, range: range) { file, local in
            let base = (file as NSString).deletingLastPathComponent
            var index = 0
            var failures: [TFRecordError] = []
            try LineReader.forEachLine(file) { line, number in
                defer { index += 1 }
                guard local.contains(index) else { return index < local.upperBound }
                do {
                    let example = try exampleFromJSONLine(line, base: base, map: map, file: file, line: number)
                    try example.serialized().withUnsafeBytes(body)
                } catch let error as TFRecordError where skipCorrupt {
                    if case .io = error { throw error }
                    failures.append(error)
                }
                return true
            }
            skipped += failures
        }
    }
}

/// Every JPEG/PNG file under a folder (sorted); a file in a subfolder gets that folder as its class text.
struct ImageFolderSource: RecordSource {
    let root: String
    let files: [String]   // relative paths
    var count: Int { files.count }

    init(root: String) throws {
        self.root = root
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw TFRecordError.io(file: root, function: "opendir", message: "cannot list the folder")
        }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let lower = relative.lowercased()
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png") { found.append(relative) }
        }
        files = found.sorted()
    }

    func forEach(in range: Range<Int>, skipped: inout [TFRecordError], _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        for relative in files[range] {
            let path = root + "/" + relative
            let bytes = try readWholeFile(path)
            guard let format = ImageFormat(magic: bytes) else {
                throw TFRecordError.invalidInput(file: path, line: 0, message: "not a JPEG or PNG file")
            }
            var example = Example([
                "image/encoded": .bytes([bytes]),
                "image/format": .strings([format.rawValue]),
                "image/filename": .strings([relative]),
            ])
            let folder = (relative as NSString).deletingLastPathComponent
            if !folder.isEmpty { example["image/class/text"] = .strings([folder]) }
            try example.serialized().withUnsafeBytes(body)
        }
    }
}

func exampleFromJSONLine(_ line: UnsafeRawBufferPointer, base: String, map: FeatureMap, file: String, line number: Int) throws -> Example {
    let object: [String: Any]
    do {
        guard let parsed = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
            throw TFRecordError.invalidInput(file: file, line: number, message: "a line must be a JSON object")
        }
        object = parsed
    } catch let error as TFRecordError {
        throw error
    } catch {
        throw TFRecordError.invalidInput(file: file, line: number, message: "invalid JSON")
    }
    var example = Example()
    for (jsonKey, value) in object where !(value is NSNull) {
        let (tfKey, mapping) = map.tfKey(jsonKey)
        do {
            if mapping?.image == true, let paths = (value as? [String]) ?? (value as? String).map({ [$0] }) {
                example[tfKey] = .bytes(try paths.map { try readWholeFile($0.hasPrefix("/") ? $0 : base + "/" + $0) })
            } else {
                example[tfKey] = try featureFromJSON(value, hint: mapping?.kind)
            }
        } catch let error as JSONValueError {
            throw TFRecordError.invalidInput(file: file, line: number, message: "\"\(jsonKey)\": \(error.message)")
        }
    }
    return example
}

func readWholeFile(_ path: String) throws -> [UInt8] {
    let file = try FileSource(path: path)
    return try [UInt8](unsafeUninitializedCapacity: Int(file.size)) { buffer, count in
        count = try buffer.baseAddress.map { try file.readFully(into: $0, count: Int(file.size)) } ?? 0
    }
}

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

// MARK: - Writing shards

func writeShards(_ source: RecordSource, to directory: String, options: ConvertOptions) throws -> ConvertReport {
    try createDirectory(directory)
    let total = source.count
    let shardCount = options.shards.count(total: total)
    options.progress?.setTotal(total)
    let report = Locked(ConvertReport())
    let skippedByShard = Locked([[TFRecordError]](repeating: [], count: shardCount))
    try parallelFor(shardCount) { shard in
        let path = directory + "/" + shardFileName(options.name, index: shard, count: shardCount, compression: options.outputCompression)
        let range = shard * total / shardCount ..< (shard + 1) * total / shardCount
        if options.resume && FileManager.default.fileExists(atPath: path) {
            options.progress?.add(records: range.count, bytes: 0)
            report.withLock { $0.resumed.append(path) }
            return
        }
        let writer = try TFRecordWriter(path: path, compression: options.outputCompression, level: options.compressionLevel)
        var batch = ProgressBatch(progress: options.progress)
        var skipped: [TFRecordError] = []
        try source.forEach(in: range, skipped: &skipped) { payload in
            try writer.write(payload)
            batch.add(payload.count)
        }
        try writer.close()
        batch.flush()
        skippedByShard.withLock { $0[shard] = skipped }
        report.withLock { $0.records += writer.recordCount }
    }
    var result = report.withLock { $0 }
    result.outputs = (0 ..< shardCount).map {
        directory + "/" + shardFileName(options.name, index: $0, count: shardCount, compression: options.outputCompression)
    }
    result.resumed.sort()
    result.skipped = inInputOrder(skippedByShard.withLock { $0.flatMap { $0 } } + source.skippedWhileIndexing)
    return result
}

/// Skip reports ordered by file (in order of first mention, which is input order), then offset.
private func inInputOrder(_ errors: [TFRecordError]) -> [TFRecordError] {
    var rank: [String: Int] = [:]
    for error in errors { if let file = error.location?.file, rank[file] == nil { rank[file] = rank.count } }
    return errors.enumerated().sorted { a, b in
        let x = (rank[a.element.location?.file ?? ""] ?? Int.max, a.element.location?.offset ?? 0, a.offset)
        let y = (rank[b.element.location?.file ?? ""] ?? Int.max, b.element.location?.offset ?? 0, b.offset)
        return x < y
    }.map(\.element)
}

func createDirectory(_ path: String) throws {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    catch { throw TFRecordError.io(file: path, function: "mkdir", message: error.localizedDescription) }
}

/// TFRecord files → shards (payloads copied as they are, CRCs checked on the way).
public func convertTFRecords(_ inputs: [String], toShardsIn directory: String, options: ConvertOptions) throws -> ConvertReport {
    try writeShards(TFRecordSource(files: inputs, compression: options.inputCompression, skipCorrupt: options.skipCorrupt),
                    to: directory, options: options)
}

/// JSONL files (fields named by `options.featureMap`, image fields as paths) → shards.
public func convertJSONL(_ inputs: [String], toShardsIn directory: String, options: ConvertOptions) throws -> ConvertReport {
    try writeShards(JSONLSource(files: inputs, map: options.featureMap, skipCorrupt: options.skipCorrupt), to: directory, options: options)
}

/// A folder of JPEG/PNG files → shards of image/encoded, image/format, image/filename (+ image/class/text).
public func convertImageFolder(_ folder: String, toShardsIn directory: String, options: ConvertOptions) throws -> ConvertReport {
    try writeShards(ImageFolderSource(root: folder), to: directory, options: options)
}

// MARK: - TFRecord → JSONL

/// TFRecord files → `<directory>/<name>.jsonl` plus `<directory>/images/…` (original bytes). Input files are
/// converted in parallel into parts, which are joined in input order at the end.
public func convertTFRecordsToJSONL(_ inputs: [String], in directory: String, options: ConvertOptions) throws -> ConvertReport {
    let output = directory + "/" + options.name + ".jsonl"
    if options.resume && FileManager.default.fileExists(atPath: output) {
        return ConvertReport(records: 0, outputs: [output], resumed: [output], skipped: [])
    }
    let parts = directory + "/.\(options.name).parts"
    try createDirectory(directory + "/images")
    try createDirectory(parts)
    let stems = uniqueStems(inputs)
    let report = Locked(ConvertReport())
    let skippedByInput = Locked([[TFRecordError]](repeating: [], count: inputs.count))
    try parallelFor(inputs.count) { i in
        let part = parts + "/" + String(i) + ".jsonl"
        if options.resume && FileManager.default.fileExists(atPath: part) {
            report.withLock { $0.resumed.append(inputs[i]) }
            return
        }
        let (count, skipped) = try exportJSONL(inputs[i], stem: stems[i], directory: directory, part: part, options: options)
        skippedByInput.withLock { $0[i] = skipped }
        report.withLock { $0.records += count }
    }
    // Join the parts in input order, then publish the JSONL under its final name.
    let joined = try FileSink(path: output + ".partial")
    for i in inputs.indices {
        let part = parts + "/" + String(i) + ".jsonl"
        try copyFile(part, into: joined)
    }
    if fsync(joined.descriptor) != 0 || rename(output + ".partial", output) != 0 { throw systemError("rename", output) }
    try? FileManager.default.removeItem(atPath: parts)
    var result = report.withLock { $0 }
    result.outputs = [output]
    result.skipped = skippedByInput.withLock { $0.flatMap { $0 } }
    return result
}

private func exportJSONL(_ input: String, stem: String, directory: String, part: String,
                         options: ConvertOptions) throws -> (Int, [TFRecordError]) {
    let reader = try TFRecordReader(path: input, compression: options.inputCompression, skipCorrupt: options.skipCorrupt)
    let sink = try FileSink(path: part + ".partial")
    var json = JSONWriter()
    var batch = ProgressBatch(progress: options.progress)
    var count = 0
    let map = options.featureMap
    while true {
        let location = RecordLocation(file: input, record: reader.recordIndex, offset: reader.offset)
        let example: Example
        do {
            guard let next = try reader.withNextRecord({ payload -> Example in
                batch.add(payload.count)
                return try Example(serialized: payload)
            }) else { break }
            example = next
        } catch TFRecordError.invalidExample(nil, let reason) {
            let error = TFRecordError.invalidExample(location, reason: reason)
            guard options.skipCorrupt else { throw error }
            reader.noteSkipped(error)
            continue
        }
        let name = stem + "-" + String(format: "%06d", location.record)
        json.raw("{")
        var first = true
        // Conventional keys first, in table order, then the rest by name.
        let keys = map.entries.map(\.tf).filter { example[$0] != nil } + example.features.keys.filter { map.byTF($0) == nil }.sorted()
        for key in keys {
            let feature = example[key]!
            if !first { json.raw(",") }
            first = false
            json.string(map.jsonKey(key))
            json.raw(":")
            let mapping = map.byTF(key)
            if mapping?.image == true, case .bytes(let images) = feature, !images.isEmpty {
                let paths = try images.enumerated().map { j, bytes in
                    try writeImage(bytes, directory: directory,
                                   name: name + (mapping!.json == "image" ? "" : "-" + sanitized(mapping!.json)) + (images.count > 1 ? "-\(j)" : ""),
                                   format: formatHint(example))
                }
                if paths.count == 1 && !mapping!.list { json.string(paths[0]) }
                else { json.raw("["); json.raw(paths.map { "\"\($0)\"" }.joined(separator: ",")); json.raw("]") }
            } else {
                json.feature(feature, list: mapping?.list ?? false)
            }
        }
        json.raw("}\n")
        count += 1
        if json.bytes.count >= streamChunkSize {
            try json.bytes.withUnsafeBytes { try sink.write($0) }
            json.bytes.removeAll(keepingCapacity: true)
        }
    }
    try json.bytes.withUnsafeBytes { try sink.write($0) }
    batch.flush()
    if rename(part + ".partial", part) != 0 { throw systemError("rename", part) }
    return (count, reader.skipped)
}

private func formatHint(_ example: Example) -> String? {
    if case .bytes(let values)? = example["image/format"], let first = values.first { return String(decoding: first, as: UTF8.self) }
    return nil
}

/// Writes an image file (temporary name, then rename) and returns its path relative to `directory`.
private func writeImage(_ bytes: [UInt8], directory: String, name: String, format: String?) throws -> String {
    let ext = ImageFormat(magic: bytes)?.fileExtension ?? format.map(sanitized) ?? "bin"
    let relative = "images/" + name + "." + ext
    let path = directory + "/" + relative
    let sink = try FileSink(path: path + ".partial")
    try bytes.withUnsafeBytes { try sink.write($0) }
    if rename(path + ".partial", path) != 0 { throw systemError("rename", path) }
    return relative
}

private func sanitized(_ text: String) -> String {
    String(text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
}

/// File names without extensions, made unique (`train-00000-of-00002`).
private func uniqueStems(_ paths: [String]) -> [String] {
    var seen: [String: Int] = [:]
    return paths.map { path in
        var stem = (path as NSString).lastPathComponent
        for suffix in [".gz", ".zz", ".zlib", ".tfrecords", ".tfrecord"] where stem.hasSuffix(suffix) { stem.removeLast(suffix.count) }
        stem = sanitized(stem)
        let n = seen[stem, default: 0]
        seen[stem] = n + 1
        return n == 0 ? stem : "\(stem)_\(n)"
    }
}

private func copyFile(_ path: String, into sink: FileSink) throws {
    let source = try FileSource(path: path)
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: streamChunkSize, alignment: 16)
    defer { buffer.deallocate() }
    while true {
        let n: Int
        do { n = try source.read(into: buffer, count: streamChunkSize) }
        catch StreamFailure.io(let function, let message) { throw TFRecordError.io(file: path, function: function, message: message) }
        if n == 0 { return }
        try sink.write(UnsafeRawBufferPointer(start: buffer, count: n))
    }
}
