// The options `ask --batch` and `segment --batch` share: inputs, shard slice, resume, bad rows, and the progress
// bar they draw. The output is each command's -o (segment's is its mask-file prefix outside batch mode).
import ArgumentParser
import Foundation
import PrismBatch
import PrismData

extension BadRowPolicy: ExpressibleByArgument {}

struct BatchArguments: ParsableArguments {
    @Option(name: .customLong("batch"), parsing: .upToNextOption,
            help: "Batch mode: answer every row of these JSONL files (image paths relative to each file's folder) or TFRecord files (encoded images), numbered across them in order.")
    var inputs: [String] = []
    @Option(help: "Batch mode: column of image paths (JSONL) or encoded images (TFRecord). Default: image for JSONL, image/encoded for TFRecord.")
    var imageKey: String?
    @Option(help: "Batch mode: column copied into each output row as \"id\" (default: none; every row carries its record number).")
    var idKey: String?
    @Option(help: "Batch mode: run as worker I of --shard-count N, on the same exact record slice `prism convert` uses.")
    var shardIndex: Int?
    @Option(help: "Batch mode: number of workers sharing the job (with --shard-index).") var shardCount: Int?
    @Flag(help: "Batch mode: continue OUTPUT.partial after its last complete row (a half-written last line is redone); nothing to do if OUTPUT is complete.")
    var resume = false
    @Option(help: "Batch mode: a bad row (missing or undecodable image, missing column, bad line) becomes an error row (row) or stops the job after the rows before it (stop).")
    var onError: BadRowPolicy = .row
    @Flag(name: .shortAndLong, help: "Batch mode: no progress bar.") var quiet = false

    var isBatch: Bool { !inputs.isEmpty }

    func validate() throws {
        guard isBatch else {
            if shardIndex != nil || shardCount != nil || resume || imageKey != nil || idKey != nil {
                throw ValidationError("--image-key, --id-key, --shard-index/--shard-count and --resume need --batch INPUT…")
            }
            return
        }
        if (shardIndex == nil) != (shardCount == nil) { throw ValidationError("--shard-index and --shard-count go together") }
        if let shardCount, shardCount < 1 { throw ValidationError("--shard-count must be at least 1") }
        if let shardIndex, let shardCount, !(0 ..< shardCount).contains(shardIndex) {
            throw ValidationError("--shard-index must be 0 to \(shardCount - 1)")
        }
    }

    /// The input files (folders of TFRecord files expanded) and this worker's slice of their records.
    func input() throws -> BatchInput {
        let jsonl = inputs.allSatisfy { $0.lowercased().hasSuffix(".jsonl") || $0.lowercased().hasSuffix(".json") }
        let paths = jsonl ? inputs : try expandTFRecordInputs(inputs)
        do {
            return try BatchInput(paths: paths, slice: shardIndex.map { ShardSlice(index: $0, count: shardCount!) })
        } catch let error as BatchError { throw UserError(error.description) }
    }

    func defaultImageKey(_ input: BatchInput) -> String {
        imageKey ?? (input.files.format == .jsonl ? "image" : "image/encoded")
    }

    /// The output for this worker's records (`path` is the command's -o; batch mode needs one).
    func openOutput(_ path: String?, _ input: BatchInput) throws -> BatchOutput {
        guard let path else { throw UserError("--batch needs -o OUTPUT.jsonl") }
        do { return try BatchOutput(path: path, range: input.range, resume: resume) }
        catch let error as BatchError { throw UserError(error.description) }
    }

    /// Runs `job`, turning a stop at a bad row into a one-line error that says how to continue.
    func run(_ what: String, _ out: BatchOutput, _ job: () throws -> BatchProgress) throws {
        if out.alreadyComplete {
            Terminal.writeErr("\(out.path) is already complete (\(out.resumedRows) rows): nothing to do\n")
            return
        }
        if out.resumedRows > 0 { Terminal.writeErr("resuming \(out.partialPath) after \(out.resumedRows) rows\n") }
        let p: BatchProgress
        do { p = try job() } catch let error as BatchError {
            throw UserError("\(error) (rows before it are in \(out.partialPath); fix the row and rerun with --resume)")
        }
        let rate = p.seconds > 0 ? Double(p.rows) / p.seconds : 0
        var line = String(format: "%@ %d rows to %@ in %.1f s (%.2f rows/s", what, p.rows, out.path, p.seconds, rate)
        line += what == "answered" ? String(format: ", %.1f tokens/s)", p.seconds > 0 ? Double(p.outputs) / p.seconds : 0) : ")"
        if p.errors > 0 { line += ", \(p.errors) error row\(p.errors == 1 ? "" : "s")" }
        Terminal.writeErr(line + "\n")
    }
}

/// A one-line rows bar on stderr when it is a terminal (and not CI, not --quiet).
enum BatchProgressBar {
    static func make(label: String, unit: String, quiet: Bool) -> ((BatchProgress) -> Void)? {
        guard !quiet, Terminal.stderrIsTTY else { return nil }
        var last = -1.0
        return { p in
            guard p.seconds - last >= 0.2 || p.rows == p.total else { return }
            last = p.seconds
            let fraction = p.total > 0 ? min(1, Double(p.rows) / Double(p.total)) : 1
            let filled = Int(fraction * 24)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
            let eta = fraction > 0 ? p.seconds * (1 - fraction) / fraction : 0
            var line = "\r\(label) \(p.rows)/\(p.total) rows [\(bar)] "
            line += String(format: "%.2f rows/s %.1f %@/s ETA %d:%02d", p.seconds > 0 ? Double(p.rows) / p.seconds : 0,
                           p.seconds > 0 ? Double(p.outputs) / p.seconds : 0, unit, Int(eta) / 60, Int(eta) % 60)
            if p.errors > 0 { line += " \(p.errors) errors" }
            Terminal.writeErr(line + "\u{1B}[K" + (p.rows == p.total ? "\n" : ""))
        }
    }
}
