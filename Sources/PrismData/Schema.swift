// Schema inference for `prism inspect`: which features a set of files holds, of which kinds, how many values,
// a few samples, and which bytes features are images.
import Foundation

/// Image formats recognised by their magic bytes.
public enum ImageFormat: String, Codable, Sendable {
    case jpeg, png

    public init?(magic bytes: some Collection<UInt8>) {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { self = .jpeg }
        else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { self = .png }
        else { return nil }
    }

    public var fileExtension: String { self == .jpeg ? "jpg" : "png" }
}

public struct FeatureSummary: Codable, Equatable, Sendable {
    public var key: String
    /// Kinds seen (more than one means the files disagree).
    public var kinds: [Feature.Kind]
    /// Records (or, for feature lists, steps) that have the feature.
    public var present: Int
    /// Fewest and most values, over the records that have the feature.
    public var minValues: Int
    public var maxValues: Int
    public var totalValues: Int
    /// Up to `sampleLimit` distinct values, rendered for people.
    public var samples: [String]
    /// Set when every non-empty value of a bytes feature starts with the same image magic.
    public var image: ImageFormat?

    enum CodingKeys: String, CodingKey {
        case key, kinds, present, image, samples
        case minValues = "min_values", maxValues = "max_values", totalValues = "total_values"
    }
}

public struct FileSummary: Codable, Equatable, Sendable {
    public var path: String
    public var compression: TFRecordCompression
    public var records: Int
    public var bytes: UInt64
}

extension TFRecordCompression: Codable {}

public struct DatasetSummary: Codable, Equatable, Sendable {
    public var files: [FileSummary]
    public var records: Int
    /// Records that decoded as tf.SequenceExample with feature lists.
    public var sequenceRecords: Int
    public var features: [FeatureSummary]
    public var featureLists: [FeatureSummary]
    /// Records given up on with `skipCorrupt` (full one-line descriptions).
    public var skipped: [String]

    enum CodingKeys: String, CodingKey {
        case files, records, features, skipped
        case sequenceRecords = "sequence_records", featureLists = "feature_lists"
    }
}

/// Accumulates feature statistics record by record.
public struct SchemaBuilder {
    public var sampleLimit: Int
    private var features: [String: Accumulator] = [:]
    private var lists: [String: Accumulator] = [:]
    private(set) var records = 0
    private(set) var sequenceRecords = 0

    public init(sampleLimit: Int = 3) { self.sampleLimit = sampleLimit }

    private struct Accumulator {
        var summary: FeatureSummary
        var imageVotes: Set<String> = []   // "jpeg", "png" or "other"
    }

    public mutating func add(_ record: SequenceExample) {
        records += 1
        if !record.featureLists.isEmpty { sequenceRecords += 1 }
        for (key, feature) in record.context { Self.add(feature, key, to: &features, sampleLimit) }
        for (key, steps) in record.featureLists {
            for step in steps { Self.add(step, key, to: &lists, sampleLimit) }
        }
    }

    public mutating func add(_ example: Example) { add(SequenceExample(context: example.features)) }

    private static func add(_ feature: Feature, _ key: String, to table: inout [String: Accumulator], _ sampleLimit: Int) {
        let n = feature.count
        var entry = table[key] ?? Accumulator(summary: FeatureSummary(key: key, kinds: [], present: 0, minValues: n,
                                                                       maxValues: n, totalValues: 0, samples: []))
        if !entry.summary.kinds.contains(feature.kind) { entry.summary.kinds.append(feature.kind) }
        entry.summary.present += 1
        entry.summary.minValues = min(entry.summary.minValues, n)
        entry.summary.maxValues = max(entry.summary.maxValues, n)
        entry.summary.totalValues += n
        if case .bytes(let values) = feature {
            for value in values where !value.isEmpty {
                entry.imageVotes.insert(ImageFormat(magic: value)?.rawValue ?? "other")
            }
        }
        if entry.summary.samples.count < sampleLimit {
            for sample in render(feature) where entry.summary.samples.count < sampleLimit && !entry.summary.samples.contains(sample) {
                entry.summary.samples.append(sample)
            }
        }
        table[key] = entry
    }

    /// Values as a person would want them in a table: text quoted, images and binary by size.
    static func render(_ feature: Feature) -> [String] {
        switch feature {
        case .int64s(let values): return values.prefix(8).map { String($0) }
        case .floats(let values): return values.prefix(8).map { $0.description }
        case .bytes(let values):
            return values.prefix(8).map { value in
                if let format = ImageFormat(magic: value) { return "<\(format.rawValue), \(value.count) bytes>" }
                if let text = String(validating: value, as: UTF8.self), !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) {
                    let short = text.count > 40 ? text.prefix(37) + "…" : Substring(text)
                    return "\"\(short)\""
                }
                return "<\(value.count) bytes>"
            }
        }
    }

    public func summary(files: [FileSummary], skipped: [String] = []) -> DatasetSummary {
        func finish(_ table: [String: Accumulator]) -> [FeatureSummary] {
            table.keys.sorted().map { key in
                var summary = table[key]!.summary
                let votes = table[key]!.imageVotes
                if votes.count == 1, let only = votes.first { summary.image = ImageFormat(rawValue: only) }
                return summary
            }
        }
        return DatasetSummary(files: files, records: records, sequenceRecords: sequenceRecords,
                              features: finish(features), featureLists: finish(lists),
                              skipped: skipped)
    }
}

/// Reads every record of `paths` and summarises them. Payloads are decoded as tf.SequenceExample, of which
/// tf.Example is the context-only case. With `skipCorrupt`, bad records are listed instead of thrown.
public func inspectTFRecords(_ paths: [String], compression: TFRecordCompression? = nil, skipCorrupt: Bool = false,
                             sampleLimit: Int = 3, maxRecords: Int? = nil) throws -> DatasetSummary {
    var builder = SchemaBuilder(sampleLimit: sampleLimit)
    var files: [FileSummary] = []
    var skipped: [String] = []
    for path in paths {
        let reader = try TFRecordReader(path: path, compression: compression, skipCorrupt: skipCorrupt)
        var count = 0
        while maxRecords.map({ builder.records < $0 }) ?? true {
            let location = RecordLocation(file: path, record: reader.recordIndex, offset: reader.offset)
            do {
                guard let record = try reader.withNextRecord({ try SequenceExample(serialized: $0) }) else { break }
                builder.add(record)
                count += 1
            } catch TFRecordError.invalidExample(nil, let reason) {
                let error = TFRecordError.invalidExample(location, reason: reason)
                guard skipCorrupt else { throw error }
                reader.noteSkipped(error)
            }
        }
        skipped += reader.skipped.map(\.description)
        files.append(FileSummary(path: path, compression: reader.compression, records: count, bytes: reader.fileSize))
    }
    return builder.summary(files: files, skipped: skipped)
}
