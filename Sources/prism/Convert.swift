import ArgumentParser
import Foundation
import PrismData

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert TFRecord datasets to and from JSONL + image files, or re-shard them.",
        discussion: """
        TFRecord → JSONL: writes OUT/<name>.jsonl and OUT/images/* (original image bytes). Conventional keys \
        (image/encoded → image, image/height → height, image/object/bbox/xmin → xmin, …) are renamed unless \
        --keep-keys. JSONL or an image folder → TFRecord, and TFRecord → TFRecord (--to tfrecord): shards named \
        <name>-00000-of-00008.tfrecord[.gz]. Outputs appear under their final names only when complete.
        """)

    enum Target: String, ExpressibleByArgument { case jsonl, tfrecord }

    @Argument(help: "Inputs: TFRecord files (or folders of them), JSONL files, or one folder of images.") var inputs: [String]
    @Option(name: .shortAndLong, help: "Output folder.") var output: String
    @Option(help: "Output format: jsonl or tfrecord (default: jsonl from TFRecord inputs, tfrecord otherwise).") var to: Target?
    @Option(help: "Number of output shards.") var shards: Int?
    @Option(help: "Records per output shard (instead of --shards).") var recordsPerShard: Int?
    @Option(help: "Output compression: none, gzip, zlib.") var compression: CompressionOption = .none
    @Option(help: "zlib level for gzip/zlib output, 1 (fast) to 9 (small); default 6.") var compressionLevel: Int32 = 6
    @Option(help: "Input compression: auto (sniff), none, gzip, zlib.") var inputCompression: CompressionOption = .auto
    @Option(help: "Base name of the outputs.") var name = "data"
    @Option(help: "Rename a feature: TF_KEY=JSON_FIELD (repeatable).") var map: [String] = []
    @Option(help: "Treat a bytes feature as images written to files (repeatable).") var imageKey: [String] = []
    @Flag(help: "Keep feature keys as they are (no conventional renames, no image files unless --image-key).") var keepKeys = false
    @Flag(help: "Skip corrupt records and list them at the end instead of stopping at the first.") var skipCorrupt = false
    @Flag(help: "Skip outputs that already exist (finished by an earlier, interrupted run).") var resume = false
    @Flag(name: .shortAndLong, help: "No progress bar.") var quiet = false

    func validate() throws {
        if shards != nil && recordsPerShard != nil { throw ValidationError("use --shards or --records-per-shard, not both") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
        if let recordsPerShard, recordsPerShard < 1 { throw ValidationError("--records-per-shard must be at least 1") }
        if !(1 ... 9).contains(compressionLevel) { throw ValidationError("--compression-level must be 1 to 9") }
        if compression == .auto { throw ValidationError("--compression must be none, gzip or zlib") }
        for rule in map where rule.split(separator: "=").count != 2 {
            throw ValidationError("--map \(rule): expected TF_KEY=JSON_FIELD")
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
        if target == .jsonl && (shards != nil || recordsPerShard != nil) { throw UserError("--shards applies to TFRecord output only") }

        var options = ConvertOptions()
        options.featureMap = keepKeys ? .none : .conventional
        for rule in map {
            let parts = rule.split(separator: "=").map(String.init)
            options.featureMap.map(parts[0], to: parts[1])
        }
        for key in imageKey { options.featureMap.markImage(key) }
        options.inputCompression = inputCompression.compression
        options.outputCompression = compression.compression ?? .none
        options.compressionLevel = compressionLevel
        options.shards = recordsPerShard.map(ShardPlan.recordsPerShard) ?? .shards(shards ?? 1)
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
        var line = "wrote \(report.records) records to \(report.outputs.count) file\(report.outputs.count == 1 ? "" : "s") in \(output)"
        if !report.resumed.isEmpty { line += " (\(report.resumed.count) already finished, skipped)" }
        line += String(format: " in %.2f s", seconds)
        print(line)
        reportSkipped(report.skipped.map(\.description))
    }
}
