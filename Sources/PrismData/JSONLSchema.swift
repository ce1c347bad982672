// The sidecar schema of a JSONL file that `prism convert` wrote: `data.jsonl` → `data.schema.json`. It says, for
// every column, which tf.Example key it came from, its kind (int64 | float | bytes), whether it has a fixed
// number of values, and whether it is a context feature or a feature list, so that converting back restores
// exact kinds, empty lists and key names, and so that pandas / Arrow / HF datasets users know the columns' types.
import Foundation
import PrismIO

public struct JSONLSchema: Codable, Equatable, Sendable {
    public static let formatName = "prism-jsonl-schema/1"

    public enum RecordType: String, Codable, Sendable {
        /// Rows are `{"column": [values], …}`.
        case example
        /// Rows are `{"context": {"column": [values], …}, "feature_lists": {"column": [[step values], …], …}}`.
        case sequenceExample = "sequence_example"
        /// Both kinds of row (TFRecord files may mix them).
        case mixed
    }

    public enum Section: String, Codable, Sendable {
        case context
        case featureList = "feature_list"
    }

    public struct Column: Codable, Equatable, Sendable {
        /// The JSON key.
        public var name: String
        /// The tf.Example / tf.SequenceExample key it came from.
        public var tfKey: String
        public var section: Section
        /// The kind of the feature, which is also the kind of its empty lists.
        public var kind: Feature.Kind
        /// Other kinds some records gave the same key (a TFRecord may; JSON then tells them apart by value).
        public var otherKinds: [Feature.Kind]?
        /// Values per record (per step, for a feature list) when always the same: `tf.io.FixedLenFeature([n])`;
        /// nil: variable (`tf.io.VarLenFeature`).
        public var fixedLength: Int?
        public var minLength: Int
        public var maxLength: Int
        /// Records that have the column (fewer than `records`: some rows leave it out).
        public var present: Int
        /// Feature lists: fewest and most steps.
        public var minSteps: Int?
        public var maxSteps: Int?
        /// The values are paths of image files, relative to the JSONL file, holding the original bytes.
        public var imageFiles: Bool?
        /// Bytes columns: base64 when some value is not UTF-8 (then every value of the column is base64 text).
        public var bytesEncoding: BytesEncoding?

        enum CodingKeys: String, CodingKey {
            case name, section, kind, present
            case tfKey = "tf_key", otherKinds = "other_kinds", fixedLength = "fixed_length", minLength = "min_length"
            case maxLength = "max_length", minSteps = "min_steps", maxSteps = "max_steps", imageFiles = "image_files"
            case bytesEncoding = "bytes_encoding"
        }
    }

    public enum BytesEncoding: String, Codable, Sendable { case utf8, base64 }

    public var format: String
    public var recordType: RecordType
    public var records: Int
    public var columns: [Column]

    enum CodingKeys: String, CodingKey {
        case format, records, columns
        case recordType = "record_type"
    }

    /// `dir/data.jsonl` → `dir/data.schema.json`.
    public static func path(forJSONL file: String) -> String {
        (file.hasSuffix(".jsonl") ? String(file.dropLast(6)) : file) + ".schema.json"
    }

    public static func read(_ path: String) throws -> JSONLSchema {
        let data = try readWholeFile(path)
        let schema: JSONLSchema
        do { schema = try JSONDecoder().decode(JSONLSchema.self, from: Data(data)) } catch {
            throw TFRecordError.invalidInput(file: path, line: 0, message: "not a JSONL schema (\(describe(error)))")
        }
        guard schema.format == formatName else {
            throw TFRecordError.invalidInput(file: path, line: 0, message: "unknown schema format \(quoted(schema.format, quote: "\"")) (expected \(formatName))")
        }
        return schema
    }

    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]   // the same bytes on every machine
        return Array(try encoder.encode(self)) + [0x0A]
    }

    func column(_ name: String, in section: Section) -> Column? {
        columns.first { $0.name == name && $0.section == section }
    }
}

private func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "no \"\(key.stringValue)\""
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
         DecodingError.dataCorrupted(let context):
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
    default: return "\(error)"
    }
}

/// Collects a schema while rows are written, one column at a time by index (the writer keeps the indices).
struct SchemaAccumulator {
    struct Stats {
        var name: String
        var tfKey: String
        var section: JSONLSchema.Section
        var image: Bool
        var base64: Bool
        var rank: Int
        var kinds = (0, 0, 0)   // bytes, float, int64
        var minLength = Int.max, maxLength = 0
        var present = 0
        var minSteps = Int.max, maxSteps = 0
    }

    private(set) var columns: [Stats] = []
    var records = 0
    var sequenceRecords = 0

    mutating func addColumn(name: String, tfKey: String, section: JSONLSchema.Section, image: Bool, base64: Bool, rank: Int) -> Int {
        columns.append(Stats(name: name, tfKey: tfKey, section: section, image: image, base64: base64, rank: rank))
        return columns.count - 1
    }

    /// One value list (a feature, or one step of a feature list).
    @inline(__always)
    mutating func add(_ column: Int, kind: Feature.Kind, count: Int) {
        switch kind {
        case .bytes: columns[column].kinds.0 += 1
        case .float: columns[column].kinds.1 += 1
        case .int64: columns[column].kinds.2 += 1
        }
        if count < columns[column].minLength { columns[column].minLength = count }
        if count > columns[column].maxLength { columns[column].maxLength = count }
    }

    @inline(__always)
    mutating func present(_ column: Int, steps: Int? = nil) {
        columns[column].present += 1
        if let steps {
            columns[column].minSteps = min(columns[column].minSteps, steps)
            columns[column].maxSteps = max(columns[column].maxSteps, steps)
        }
    }

    func schema() -> JSONLSchema {
        let used = columns.filter { $0.present > 0 }.sorted {
            ($0.section == .context ? 0 : 1, $0.rank, $0.tfKey) < ($1.section == .context ? 0 : 1, $1.rank, $1.tfKey)
        }
        let out = used.map { stats -> JSONLSchema.Column in
            let counts: [(Feature.Kind, Int)] = [(.bytes, stats.kinds.0), (.float, stats.kinds.1), (.int64, stats.kinds.2)]
            // Most frequent first; a list that is empty in every record was written by a Feature with no kind: bytes.
            let seen = counts.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
            let kind = seen.first?.0 ?? .bytes
            let others = seen.dropFirst().map(\.0)
            let list = stats.section == .featureList
            let minLength = stats.minLength == Int.max ? 0 : stats.minLength
            return JSONLSchema.Column(
                name: stats.name, tfKey: stats.tfKey, section: stats.section, kind: kind,
                otherKinds: others.isEmpty ? nil : others,
                fixedLength: minLength == stats.maxLength && stats.minLength != Int.max ? minLength : nil,
                minLength: minLength, maxLength: stats.maxLength, present: stats.present,
                minSteps: list ? (stats.minSteps == Int.max ? 0 : stats.minSteps) : nil, maxSteps: list ? stats.maxSteps : nil,
                imageFiles: stats.image ? true : nil,
                bytesEncoding: kind == .bytes && !stats.image ? (stats.base64 ? .base64 : .utf8) : nil)
        }
        let type: JSONLSchema.RecordType = sequenceRecords == 0 ? .example : sequenceRecords == records ? .sequenceExample : .mixed
        return JSONLSchema(format: JSONLSchema.formatName, recordType: type, records: records, columns: out)
    }
}
