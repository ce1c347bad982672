// TFRecord payloads → JSONL rows (spec §4), straight from the wire: the parser's views are written out with no
// Swift values in between.
//
// A tf.Example is the row {"column": [values], …}; a tf.SequenceExample is
// {"context": {"column": [values], …}, "feature_lists": {"column": [[step values], …], …}}. Every feature is a
// list whatever its length, so a column keeps one type from row to row (what pandas, Arrow and HF datasets need):
// int64s as integers; floats always with a '.' or an exponent (the kind survives even without the schema), and
// NaN / Infinity / -Infinity as Python's json module and Arrow write them (NaN payload bits are not kept); bytes
// as UTF-8 strings, or, in a column where some value is not UTF-8, every value as base64 text (the schema says
// which). Image features become files with the original bytes, and the column holds their paths. Columns: the
// conventional keys in table order, then the rest by key.
import Foundation

/// A value type, so that the per-record work runs without Swift's run-time exclusivity checks.
struct JSONLRowWriter {
    private let map: FeatureMap
    private var parser = ExampleParser()
    /// Rows not yet written out.
    var out = ByteBuffer(capacity: streamChunkSize + (64 << 10))
    private(set) var schema = SchemaAccumulator()
    /// Image files go to `imageDirectory` (created on first use); rows name them `imagePrefix + file`.
    private let imageDirectory: String
    private let imagePrefix: String
    private var imageDirectoryMade = false
    private(set) var imagesWritten = 0

    /// A column by section and tf key.
    struct ColumnKey: Hashable, Sendable {
        let section: JSONLSchema.Section
        let bytes: [UInt8]
    }

    private struct Column {
        let section: JSONLSchema.Section
        let key: [UInt8]
        /// `"name":`, ready to copy.
        let label: [UInt8]
        let image: Bool
        let base64: Bool
        /// `-name` for image files of a column other than `image`.
        let fileSuffix: String
        let rank: Int
        let stats: Int
    }

    private var columns: [Column] = []
    private var lookup: [ColumnKey: Int] = [:]
    /// Columns whose bytes are written as base64 text.
    private let base64Columns: Set<ColumnKey>
    /// Columns not in `base64Columns` that met a value that is not UTF-8: the rows must be written again with them
    /// in it (a column is base64 throughout, or not at all).
    private(set) var newBase64Columns: Set<ColumnKey> = []
    /// The column of the i-th feature (list) of the previous record: records of a file mostly share their keys.
    private var recentContext: [Int] = []
    private var recentLists: [Int] = []
    /// The columns of the record being written, in wire order, and the order to write them in (positions into it):
    /// the conventional keys in table order, then the rest by key. Kept from the record before, which usually
    /// has the same columns.
    private var recordColumns: [Int] = []
    private var order: [Int] = []
    private var orderedColumns: [Int] = []

    /// Image files are written by a few background threads while rows go on: creating files is kernel work
    /// (inode allocation), which then runs on the other cores. The caller waits for them (`files.finish()`).
    let files: BackgroundFileWriter

    init(map: FeatureMap, imageDirectory: String, imagePrefix: String, base64Columns: Set<ColumnKey> = [],
         files: BackgroundFileWriter = BackgroundFileWriter()) {
        self.map = map
        self.files = files
        self.base64Columns = base64Columns
        self.imageDirectory = imageDirectory
        self.imagePrefix = imagePrefix
    }

    /// Appends the row of one payload; its image files are named `imageName()` plus a suffix. An invalid payload
    /// throws `.invalidExample(nil, …)` before anything is written.
    mutating func append(_ payload: UnsafeRawBufferPointer, imageName: () -> String) throws {
        try parser.parse(payload)
        schema.records += 1
        let sequence = parser.hasFeatureLists
        if sequence {
            schema.sequenceRecords += 1
            out.append("{\"context\":")
        }
        try writeContext(imageName: imageName)
        if sequence {
            out.append(",\"feature_lists\":")
            writeFeatureLists()
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "\n"))
    }

    // MARK: - Rows

    private mutating func writeContext(imageName: () -> String) throws {
        startObject(.context)
        for n in 0 ..< order.count {
            let position = order[n]
            let column = startMember(n, position)
            let feature = parser.featureValue(position)
            schema.present(column.stats)
            schema.add(column.stats, kind: feature.kind, count: feature.count)
            if column.image && feature.kind == .bytes {
                try writeImages(feature, name: imageName() + column.fileSuffix)
            } else {
                writeValues(feature, recordColumns[position])
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    private mutating func writeFeatureLists() {
        startObject(.featureList)
        for n in 0 ..< order.count {
            let position = order[n]
            let column = startMember(n, position)
            let steps = parser.featureListSteps(position)
            schema.present(column.stats, steps: steps.count)
            out.append(UInt8(ascii: "["))
            for (s, step) in steps.enumerated() {
                if s > 0 { out.append(UInt8(ascii: ",")) }
                schema.add(column.stats, kind: step.kind, count: step.count)
                writeValues(step, recordColumns[position])
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Opens the object of one section: finds the record's columns and the order to write them in.
    private mutating func startObject(_ section: JSONLSchema.Section) {
        recordColumns.removeAll(keepingCapacity: true)
        let count = section == .context ? parser.featureCount : parser.featureListCount
        for i in 0 ..< count {
            let key = section == .context ? parser.featureKey(i) : parser.featureListKey(i)
            recordColumns.append(column(key, section, position: i))
        }
        orderColumns()
        out.append(UInt8(ascii: "{"))
    }

    /// Writes the `n`-th member's `"name":` (after a comma) and returns its column.
    private mutating func startMember(_ n: Int, _ position: Int) -> Column {
        if n > 0 { out.append(UInt8(ascii: ",")) }
        let column = columns[recordColumns[position]]
        out.append(column.label)
        return column
    }

    /// Sets `order` for `recordColumns`, reusing the last one when the columns are those of the record before.
    private mutating func orderColumns() {
        if recordColumns == orderedColumns { return }
        let columns = self.columns, record = recordColumns
        order = record.indices.sorted { a, b in
            let x = columns[record[a]], y = columns[record[b]]
            return x.rank != y.rank ? x.rank < y.rank : x.key.lexicographicallyPrecedes(y.key)
        }
        orderedColumns = recordColumns
    }

    @inline(__always)
    private mutating func column(_ key: UnsafeRawBufferPointer, _ section: JSONLSchema.Section, position: Int) -> Int {
        let recent = section == .context ? recentContext : recentLists
        if position < recent.count {
            let candidate = recent[position]
            if columns[candidate].key.withUnsafeBytes({ compare($0, key) }) == 0 { return candidate }
        }
        let found = newColumn(key, section)
        if section == .context {
            if position < recentContext.count { recentContext[position] = found } else { recentContext.append(found) }
        } else {
            if position < recentLists.count { recentLists[position] = found } else { recentLists.append(found) }
        }
        return found
    }

    private mutating func newColumn(_ key: UnsafeRawBufferPointer, _ section: JSONLSchema.Section) -> Int {
        let lookupKey = ColumnKey(section: section, bytes: Array(key))
        if let known = lookup[lookupKey] { return known }
        let tfKey = String(decoding: key, as: UTF8.self)
        let mapping = map.byTF(tfKey)
        let name = map.jsonKey(tfKey)
        let image = section == .context && (mapping?.image ?? false)
        // Conventional keys in table order, before the rest (in key order).
        let rank = mapping.flatMap { m in map.entries.firstIndex { $0.tf == m.tf } } ?? Int.max
        var label = ByteBuffer(capacity: name.utf8.count + 8)
        appendString(Array(name.utf8), to: &label)
        label.append(UInt8(ascii: ":"))
        let base64 = base64Columns.contains(lookupKey)
        let stats = schema.addColumn(name: name, tfKey: tfKey, section: section, image: image, base64: base64, rank: rank)
        columns.append(Column(section: section, key: lookupKey.bytes, label: Array(label.bytes), image: image, base64: base64,
                              fileSuffix: name == "image" ? "" : "-" + sanitizedFileName(name), rank: rank, stats: stats))
        lookup[lookupKey] = columns.count - 1
        return columns.count - 1
    }

    // MARK: - Values

    @inline(__always)
    private mutating func writeValues(_ feature: FeatureView, _ column: Int) {
        out.append(UInt8(ascii: "["))
        var first = true
        switch feature.kind {
        case .int64:
            feature.forEachInt64 { value in
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.appendDecimal(value)
            }
        case .float:
            feature.forEachFloat { value in
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                appendFloat(value)
            }
        case .bytes:
            let base64 = columns[column].base64
            feature.forEachBytes { value in
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                if base64 {
                    out.append(UInt8(ascii: "\""))
                    out.append(Data(value).base64EncodedString())
                    out.append(UInt8(ascii: "\""))
                } else if !appendText(value) {
                    newBase64Columns.insert(ColumnKey(section: columns[column].section, bytes: columns[column].key))
                }
            }
        }
        out.append(UInt8(ascii: "]"))
    }

    @inline(__always)
    private mutating func appendFloat(_ value: Float) {
        if value.isFinite {
            // Swift's shortest text that reads back as the same Float; it always has a '.' or an exponent.
            out.append(value.description)
        } else {
            out.append(value.isNaN ? "NaN" : value < 0 ? "-Infinity" : "Infinity")
        }
    }

    /// Writes UTF-8 bytes as a JSON string; false (and nothing written but a placeholder) when they are not UTF-8.
    @inline(__always)
    private mutating func appendText(_ value: UnsafeRawBufferPointer) -> Bool {
        var plain = true
        for byte in value where byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            plain = false
            break
        }
        if plain {
            out.append(UInt8(ascii: "\""))
            out.append(value)
            out.append(UInt8(ascii: "\""))
        } else if isUTF8(value) {
            appendString(value, to: &out)
        } else {
            out.append("null")
            return false
        }
        return true
    }

    private mutating func writeImages(_ feature: FeatureView, name: String) throws {
        if !imageDirectoryMade {
            try createDirectory(imageDirectory)
            imageDirectoryMade = true
        }
        out.append(UInt8(ascii: "["))
        var j = 0
        try feature.forEachBytes { bytes in
            let ext = ImageFormat(magic: bytes)?.fileExtension ?? formatHint().map(sanitizedFileName) ?? "bin"
            let file = name + (feature.count > 1 ? "-\(j)" : "") + "." + ext
            try files.write(bytes, to: imageDirectory + "/" + file)
            imagesWritten += 1
            if j > 0 { out.append(UInt8(ascii: ",")) }
            appendString(Array((imagePrefix + file).utf8), to: &out)
            j += 1
        }
        out.append(UInt8(ascii: "]"))
    }

    /// The record's `image/format`, for image bytes without JPEG or PNG magic.
    private func formatHint() -> String? {
        let key: StaticString = "image/format"
        let wanted = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        for i in 0 ..< parser.featureCount where compare(parser.featureKey(i), wanted) == 0 {
            var first: String?
            parser.featureValue(i).forEachBytes { if first == nil { first = String(decoding: $0, as: UTF8.self) } }
            return first
        }
        return nil
    }
}

/// A JSON string of UTF-8 bytes: quotes, backslashes and control characters escaped.
func appendString(_ text: some Collection<UInt8>, to out: inout ByteBuffer) {
    out.append(UInt8(ascii: "\""))
    for byte in text {
        switch byte {
        case UInt8(ascii: "\""): out.append("\\\"")
        case UInt8(ascii: "\\"): out.append("\\\\")
        case 0x0A: out.append("\\n")
        case 0x0D: out.append("\\r")
        case 0x09: out.append("\\t")
        case 0 ..< 0x20, 0x7F:
            out.append("\\u00")
            out.append(hexDigit(byte >> 4))
            out.append(hexDigit(byte & 0xF))
        default: out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
}

private func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10 }

/// Letters, digits, '-' and '_' kept; anything else becomes '_'.
func sanitizedFileName(_ text: String) -> String {
    String(text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
}

/// Writes whole files on background threads, a bounded number at a time; the first failure is thrown by the next
/// `write` or by `finish`.
final class BackgroundFileWriter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "prism.convert.files", attributes: .concurrent)
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let failure = Locked<Error?>(nil)

    init(inFlight: Int = max(2, 2 * ProcessInfo.processInfo.activeProcessorCount)) {
        slots = DispatchSemaphore(value: inFlight)
    }

    /// Copies `bytes` and writes them to `path` (a temporary name: the caller publishes the folder).
    func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        if let error = failure.withLock({ $0 }) { throw error }
        let copy = [UInt8](bytes)
        slots.wait()
        group.enter()
        queue.async { [self] in
            defer {
                slots.signal()
                group.leave()
            }
            do { try copy.withUnsafeBytes { try FileSink.write($0, to: path) } } catch {
                failure.withLock { if $0 == nil { $0 = error } }
            }
        }
    }

    /// Waits for every write; throws the first failure.
    func finish() throws {
        group.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Waits for every write, failed or not (before a failed run removes its temporary files).
    func waitForAll() { group.wait() }

    deinit { group.wait() }
}
