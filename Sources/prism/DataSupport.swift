// Shared pieces of `prism convert`, `prism inspect` and `prism index`: compression options, input expansion, the progress bar.
import ArgumentParser
import Foundation
import PrismData

/// `--compression auto|none|gzip|zlib` (auto: sniff on read, from the extension on write).
enum CompressionOption: String, ExpressibleByArgument, CaseIterable {
    case auto, none, gzip, zlib

    var compression: TFRecordCompression? { TFRecordCompression(rawValue: rawValue) }
}

/// What output can be written as (sniffing, `auto`, only makes sense for input).
enum OutputCompressionOption: String, ExpressibleByArgument, CaseIterable {
    case none, gzip, zlib

    var compression: TFRecordCompression { TFRecordCompression(rawValue: rawValue)! }
}

/// Files named on the command line; a folder stands for the TFRecord files in it (sorted).
func expandTFRecordInputs(_ inputs: [String]) throws -> [String] {
    try inputs.flatMap { input -> [String] in
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
            throw UserError("\(input): no such file or folder")
        }
        guard isDirectory.boolValue else { return [input] }
        let names = try FileManager.default.contentsOfDirectory(atPath: input).filter(isTFRecordName).sorted()
        if names.isEmpty { throw UserError("\(input): no .tfrecord files in this folder") }
        return names.map { input + "/" + $0 }
    }
}

func isTFRecordName(_ name: String) -> Bool {
    let lower = name.lowercased()
    return lower.contains(".tfrecord") && !lower.hasSuffix(".partial") && !lower.hasSuffix(".tfindex")
}

/// A one-line progress bar on stderr when it is a terminal and CI is not set; nil otherwise.
final class ProgressBar: @unchecked Sendable {
    let progress: ConvertProgress
    private let label: String

    static func make(label: String, quiet: Bool) -> ProgressBar? {
        guard !quiet, Terminal.stderrIsTTY else { return nil }
        return ProgressBar(label: label)
    }

    private init(label: String) {
        self.label = label
        progress = ConvertProgress { snapshot in ProgressBar.draw(label, snapshot) }
    }

    func finish() {
        ProgressBar.draw(label, progress.snapshot)
        FileHandle.standardError.write("\n".data(using: .utf8)!)
    }

    private static func draw(_ label: String, _ s: ConvertProgress.Snapshot) {
        let rate = s.seconds > 0 ? Double(s.bytes) / s.seconds / 1e6 : 0
        var line = "\r\(label) \(s.records)"
        if let total = s.totalRecords, total > 0 {
            let fraction = min(1, Double(s.records) / Double(total))
            let filled = Int(fraction * 24)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 24 - filled)
            let eta = fraction > 0 ? s.seconds * (1 - fraction) / fraction : 0
            line += "/\(total) records [\(bar)] \(String(format: "%.1f", rate)) MB/s ETA \(clock(eta))"
        } else {
            line += " records \(String(format: "%.1f", rate)) MB/s \(clock(s.seconds))"
        }
        FileHandle.standardError.write((line + "\u{1B}[K").data(using: .utf8)!)
    }

    private static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// Prints what `--skip-corrupt` skipped, one line each, on stderr.
func reportSkipped(_ skipped: [String]) {
    guard !skipped.isEmpty else { return }
    var text = "skipped \(skipped.count) corrupt record\(skipped.count == 1 ? "" : "s"):\n"
    for line in skipped { text += "  \(line)\n" }
    FileHandle.standardError.write(text.data(using: .utf8)!)
}
