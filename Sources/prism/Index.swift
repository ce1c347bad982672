import ArgumentParser
import Foundation
import PrismData

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Write index files for TFRecord files (the format of the `tfrecord` PyPI package and NVIDIA DALI).",
        discussion: """
        One line per record, "<offset> <length>": where the record's header starts and its whole framed length. \
        train.tfrecord gets train.tfindex (the name tfrecord2idx gives); other names get .tfindex appended. Every \
        CRC is checked, and a corrupt file gets no index. For gzip/zlib files the offsets count decompressed bytes: \
        the `tfrecord` package's gzip reader seeks by those (tfrecord_iterator(..., compression_type="gzip")); \
        DALI reads uncompressed files only. prism convert uses a current index to count records without reading \
        the file and to start a --shard-index slice with a seek.
        """)

    @Argument(help: "TFRecord files, or folders of them.") var files: [String]
    @Option(name: .shortAndLong, help: "Index file to write (one input only; default: next to the input).") var output: String?
    @Option(help: "Compression of the inputs: auto (sniff), none, gzip, zlib.") var compression: CompressionOption = .auto

    func run() throws {
        let paths = try expandTFRecordInputs(files)
        if output != nil && paths.count != 1 { throw UserError("--output needs exactly one input file") }
        var compressed = 0
        for path in paths {
            let summary = try TFRecordIndex.write(for: path, to: output, compression: compression.compression)
            print("\(summary.output): \(summary.records) records")
            if summary.compression != .none { compressed += 1 }
        }
        if compressed > 0 {
            FileHandle.standardError.write("""
                note: \(compressed) compressed file\(compressed == 1 ? "" : "s"): offsets count decompressed bytes \
                (the tfrecord package's gzip reader seeks by them; DALI reads uncompressed files only)\n
                """.data(using: .utf8)!)
        }
    }
}
