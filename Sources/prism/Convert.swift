import ArgumentParser
import Foundation
import PrismData

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert TFRecord datasets to and from JSONL + image files, or re-shard them.",
        discussion: """
        TFRecord → JSONL: writes OUT/<name>.jsonl, its schema OUT/<name>.schema.json and its images in \
        OUT/images/<name>/ (original bytes); with --shards N, one such set per shard, <name>-00000-of-0000N. Every \
        feature is a JSON list; a tf.SequenceExample is {"context": {…}, "feature_lists": {"key": [[…], …]}}. \
        Conventional keys (image/encoded → image, image/object/bbox/xmin → xmin, …) are renamed unless --keep-keys.

        JSONL → TFRecord reads each file's schema (data.jsonl → data.schema.json) when it is there, so a round \
        trip gives back the same keys, kinds and empty lists. Numbers that do not fit int64 / float32 and booleans \
        are errors naming the file and line, unless --lossy. An image folder → TFRecord writes the bytes, format, \
        file name, height, width and, for images in subfolders, image/class/text and image/class/label (0-based, \
        subfolders sorted). TFRecord → TFRecord (--to tfrecord) re-shards and re-compresses.

        Shards are named <name>-00000-of-00008.tfrecord[.gz]. --shard-index I --shard-count N makes this run worker \
        I of N: it writes its share of the output shards (by default one: N shards in all), exactly the files one \
        machine would write. Outputs appear under their final names only when complete, and a failed run removes \
        what it published.
        """)

    enum Target: String, ExpressibleByArgument { case jsonl, tfrecord }

    @Argument(help: "Inputs: TFRecord files (or folders of them), JSONL files, or one folder of images.") var inputs: [String]
    @Option(name: .shortAndLong, help: "Output folder.") var output: String
    @Option(help: "Output format: jsonl or tfrecord (default: jsonl from TFRecord inputs, tfrecord otherwise).") var to: Target?
    @Option(help: "Number of output shards (default 1, or --shard-count).") var shards: Int?
    @Option(help: "Records per output shard (instead of --shards).") var recordsPerShard: Int?
    @Option(help: "Output compression: none, gzip, zlib.") var compression: OutputCompressionOption = .none
    @Option(help: "zlib level for gzip/zlib output, 1 (fast) to 9 (small); default 6.") var compressionLevel: Int32 = 6
    @Option(help: "Input compression: auto (sniff), none, gzip, zlib.") var inputCompression: CompressionOption = .auto
    @Option(help: "Base name of the outputs.") var name = "data"
    @Option(help: "Rename a feature: TF_KEY=JSON_FIELD (repeatable).") var map: [String] = []
    @Option(help: "Treat a bytes feature as images written to files (repeatable).") var imageKey: [String] = []
    @Flag(help: "Keep feature keys as they are (no conventional renames, no image files unless --image-key).") var keepKeys = false
    @Option(help: "Run as worker I of --shard-count N: write only this worker's shards.") var shardIndex: Int?
    @Option(help: "Number of workers sharing the job (with --shard-index).") var shardCount: Int?
    @Option(help: "JSONL input: the schema.json to read every input with (default: each file's <stem>.schema.json).") var schema: String?
    @Flag(help: "JSONL input: clamp integers beyond int64 and floats beyond float32, read booleans as 1/0, instead of stopping.") var lossy = false
    @Flag(help: "Skip corrupt records and list them at the end instead of stopping at the first.") var skipCorrupt = false
    @Flag(help: "Skip outputs that already exist (finished by an earlier, interrupted run).") var resume = false
    @Flag(name: .shortAndLong, help: "No progress bar.") var quiet = false

    func validate() throws {
        if shards != nil && recordsPerShard != nil { throw ValidationError("use --shards or --records-per-shard, not both") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
        if let recordsPerShard, recordsPerShard < 1 { throw ValidationError("--records-per-shard must be at least 1") }
        if !(1 ... 9).contains(compressionLevel) { throw ValidationError("--compression-level must be 1 to 9") }
        for rule in map where rule.split(separator: "=").count != 2 {
            throw ValidationError("--map \(rule): expected TF_KEY=JSON_FIELD")
        }
        if (shardIndex == nil) != (shardCount == nil) { throw ValidationError("--shard-index and --shard-count go together") }
        if let shardCount, shardCount < 1 { throw ValidationError("--shard-count must be at least 1") }
        if let shardIndex, let shardCount, !(0 ..< shardCount).contains(shardIndex) {
            throw ValidationError("--shard-index must be 0 to \(shardCount - 1)")
        }
    }

    enum InputKind { case tfrecord, jsonl, imageFolder }

    func inputKind() throws -> InputKind {
        let lower = inputs.map { $0.lowercased() }
        if lower.allSatisfy({ $0.hasSuffix(".jsonl") || $0.hasSuffix(".json") }) { return .jsonl }
        if inputs.count == 1 {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: inputs[0], isDirectory: &isDirectory), isDirectory.boolValue,
               try FileManager.default.contentsOfDirectory(atPath: inputs[0]).contains(where: isTFRecordName) == false {
                return .imageFolder
            }
        }
        return .tfrecord
    }

    func run() throws {
        let kind = try inputKind()
        let target = to ?? (kind == .tfrecord ? .jsonl : .tfrecord)
        if target == .jsonl && kind != .tfrecord { throw UserError("--to jsonl needs TFRecord inputs") }
        if (lossy || schema != nil) && kind != .jsonl { throw UserError("--lossy and --schema apply to JSONL inputs only") }

        var options = ConvertOptions()
        options.featureMap = keepKeys ? .none : .conventional
        for rule in map {
            let parts = rule.split(separator: "=").map(String.init)
            options.featureMap.map(parts[0], to: parts[1])
        }
        for key in imageKey { options.featureMap.markImage(key) }
        options.inputCompression = inputCompression.compression
        options.outputCompression = compression.compression
        options.compressionLevel = compressionLevel
        options.shards = recordsPerShard.map(ShardPlan.recordsPerShard) ?? .shards(shards ?? shardCount ?? 1)
        if let shardIndex, let shardCount { options.slice = ShardSlice(index: shardIndex, count: shardCount) }
        options.lossy = lossy
        options.schemaPath = schema
        options.name = name
        options.skipCorrupt = skipCorrupt
        options.resume = resume
        let bar = ProgressBar.make(label: "convert", quiet: quiet)
        options.progress = bar?.progress

        let started = Date()
        let report: ConvertReport
        switch (kind, target) {
        case (.tfrecord, .jsonl):
            report = try convertTFRecordsToJSONL(try expandTFRecordInputs(inputs), in: output, options: options)
        case (.tfrecord, .tfrecord):
            report = try convertTFRecords(try expandTFRecordInputs(inputs), toShardsIn: output, options: options)
        case (.jsonl, _):
            report = try convertJSONL(inputs, toShardsIn: output, options: options)
        case (.imageFolder, _):
            report = try convertImageFolder(inputs[0], toShardsIn: output, options: options)
        }
        bar?.finish()
        let seconds = Date().timeIntervalSince(started)
        let written = report.outputs.count - report.resumed.count
        var line = "wrote \(report.records) records to \(written) file\(written == 1 ? "" : "s") in \(output)"
        if !report.resumed.isEmpty { line += " (\(report.resumed.count) already finished, skipped)" }
        if let slice = options.slice { line += " as worker \(slice)" }
        line += String(format: " in %.2f s", seconds)
        print(line)
        if report.lossyValues > 0 {
            FileHandle.standardError.write("--lossy changed \(report.lossyValues) value\(report.lossyValues == 1 ? "" : "s") to fit\n".data(using: .utf8)!)
        }
        reportSkipped(report.skipped.map(\.description))
    }
}
