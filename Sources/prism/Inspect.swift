import ArgumentParser
import Foundation
import PrismData

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Summarise the records and features in TFRecord files.",
        discussion: "Counts records, lists every feature with its kind, how many values it has per record, sample values, and which bytes features are JPEG/PNG images. Reads tf.Example and tf.SequenceExample.")

    @Argument(help: "TFRecord files, or folders of them.") var files: [String]
    @Flag(help: "Print the summary as JSON.") var json = false
    @Option(help: "Compression of the inputs: auto (sniff), none, gzip, zlib.") var compression: CompressionOption = .auto
    @Flag(help: "Skip corrupt records and list them at the end instead of stopping at the first.") var skipCorrupt = false
    @Option(help: "Sample values shown per feature.") var samples = 3
    @Option(help: "Stop after this many records.") var limit: Int?
    @Flag(help: "Only count records, checking every CRC (and, with --decode, parsing every record); prints throughput.") var count = false
    @Flag(help: "With --count: parse each record as a tf.Example / tf.SequenceExample too, reading every value.") var decode = false

    func validate() throws {
        if samples < 0 { throw ValidationError("--samples must be 0 or more") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let paths = try expandTFRecordInputs(files)
        if count { return try countRecords(paths) }
        let summary = try inspectTFRecords(paths, compression: compression.compression, skipCorrupt: skipCorrupt,
                                           sampleLimit: samples, maxRecords: limit)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print(table(summary), terminator: "")
        }
        reportSkipped(summary.skipped)
    }

    /// The fast path the benchmarks time: framing + CRC (+ a full parse that reads every value), nothing kept.
    func countRecords(_ paths: [String]) throws {
        let started = Date()
        var records = 0, bytes: UInt64 = 0
        var tally = ValueTally()
        var skipped: [String] = []
        var parser = ExampleParser()
        for path in paths {
            let reader = try TFRecordReader(path: path, compression: compression.compression, skipCorrupt: skipCorrupt)
            if decode {
                try reader.forEachRecord { payload in
                    try parser.parse(payload)
                    tally.add(&parser)
                }
            } else {
                try reader.forEachRecord { _ in }
            }
            records += reader.recordIndex - reader.skipped.count
            bytes += reader.offset
            skipped += reader.skipped.map(\.description)
        }
        let seconds = Date().timeIntervalSince(started)
        let rate = seconds > 0 ? Double(bytes) / seconds / 1e9 : 0
        print("\(records) records, \(formatBytes(bytes)) in \(String(format: "%.3f", seconds)) s: \(String(format: "%.2f", rate)) GB/s"
              + (decode ? ", \(tally.features) features, \(tally.values) values" : ""))
        reportSkipped(skipped)
    }

    func table(_ summary: DatasetSummary) -> String {
        let bytes = summary.files.reduce(UInt64(0)) { $0 + $1.bytes }
        var out = "\(summary.files.count) file\(summary.files.count == 1 ? "" : "s"), \(summary.records) records, \(formatBytes(bytes))"
        if summary.sequenceRecords > 0 { out += " (\(summary.sequenceRecords) tf.SequenceExample)" }
        out += "\n"
        if summary.files.count > 1 || summary.files.first?.compression != TFRecordCompression.none {
            for file in summary.files {
                out += "  \(file.path)  \(file.compression.rawValue)  \(file.records) records  \(formatBytes(file.bytes))\n"
            }
        }
        out += "\n" + featureTable(summary.features, records: summary.records, title: "feature")
        if !summary.featureLists.isEmpty {
            out += "\n" + featureTable(summary.featureLists, records: nil, title: "feature list (per step)")
        }
        return out
    }

    func featureTable(_ features: [FeatureSummary], records: Int?, title: String) -> String {
        var rows = [[title, "kind", records == nil ? "steps" : "records", "values", "samples"]]
        for f in features {
            let kind = f.kinds.map(\.rawValue).joined(separator: "|") + (f.image.map { " (\($0.rawValue))" } ?? "")
            let present = records.map { "\(f.present)/\($0)" } ?? "\(f.present)"
            let values = f.minValues == f.maxValues ? "\(f.minValues)" : "\(f.minValues)–\(f.maxValues)"
            rows.append([f.key, kind, present, values, f.samples.joined(separator: ", ")])
        }
        let widths = (0 ..< 4).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            (0 ..< 4).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                + "  " + row[4]
        }.joined(separator: "\n") + "\n"
    }
}

/// Reads every value of every parsed record (ints and floats summed, bytes measured), so that `--count --decode`
/// times a parse that delivers the values, not only one that checks them.
struct ValueTally {
    var features = 0, values = 0
    var checksum: UInt64 = 0

    mutating func add(_ parser: inout ExampleParser) {
        parser.forEachFeatureView { add($0) }
    }

    @inline(__always)
    private mutating func add(_ feature: FeatureView) {
        features += 1
        values += feature.count
        switch feature.kind {
        case .int64: feature.forEachInt64 { checksum &+= UInt64(bitPattern: $0) }
        case .float: feature.forEachFloat { checksum &+= UInt64($0.bitPattern) }
        case .bytes: feature.forEachBytes { checksum &+= UInt64($0.count) }
        }
    }
}
