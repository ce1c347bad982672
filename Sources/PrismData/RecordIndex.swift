// Index files for TFRecord files, in the format of the PyPI `tfrecord` package (tfrecord2idx) and NVIDIA DALI:
// one line per record, "<offset> <length>\n" in decimal, the offset of the record's 12-byte header and its whole
// framed length (12 + payload + 4).
//
// Compressed files: the offsets count decompressed bytes, as TensorFlow's reader reports them. That is what the
// `tfrecord` package's gzip reader seeks by (it opens gzip files with Python's GzipFile, whose seek counts
// decompressed bytes), so its `tfrecord_iterator(path, index, shard, compression_type="gzip")` reads them; DALI
// reads uncompressed files only, and the `tfrecord` package no zlib files. Prism itself uses a current index
// to count records without reading the file and, for uncompressed files, to seek to the first record it needs.
import Foundation

public enum TFRecordIndex {
    /// Where the index of `file` lives: `train.tfrecord` → `train.tfindex` (the name tfrecord2idx gives in
    /// directory mode); any other name gets `.tfindex` appended (`train.tfrecord.gz.tfindex`).
    public static func path(for file: String) -> String {
        for suffix in [".tfrecord", ".tfrecords"] where file.hasSuffix(suffix) {
            return String(file.dropLast(suffix.count)) + ".tfindex"
        }
        return file + ".tfindex"
    }

    public struct Summary: Sendable {
        public var records: Int
        public var compression: TFRecordCompression
        public var output: String
    }

    /// Writes the index of `file` to `output` (default `path(for:)`), under a temporary name until complete.
    /// Every CRC is checked: an index of a corrupt file is refused, with the error of the first bad record.
    @discardableResult
    public static func write(for file: String, to output: String? = nil, compression: TFRecordCompression? = nil) throws -> Summary {
        let output = output ?? path(for: file)
        let reader = try TFRecordReader(path: file, compression: compression)
        let sink = try FileSink(path: output + ".partial")
        var text = ByteBuffer(capacity: streamChunkSize + 64)
        do {
            var records = 0
            while true {
                let offset = reader.offset
                guard try reader.nextFrame() != nil else { break }
                text.appendDecimal(Int64(offset))
                text.append(UInt8(ascii: " "))
                text.appendDecimal(Int64(reader.offset - offset))
                text.append(UInt8(ascii: "\n"))
                records += 1
                if text.count >= streamChunkSize { try text.drain(into: sink) }
            }
            try text.drain(into: sink)
            try sink.close()
            if rename(output + ".partial", output) != 0 { throw systemError("rename", output) }
            return Summary(records: records, compression: reader.compression, output: output)
        } catch {
            unlink(output + ".partial")
            throw error
        }
    }

    /// The index of `file`, if there is one that is not older than the file; its lines are checked as they are read,
    /// and for an uncompressed file the last record must end where the file ends.
    static func current(for file: String, fileSize: UInt64, compressed: Bool) throws -> Loaded? {
        let index = path(for: file)
        var dataInfo = stat(), indexInfo = stat()
        guard stat(index, &indexInfo) == 0, stat(file, &dataInfo) == 0 else { return nil }
        guard indexInfo.st_mtim.tv_sec > dataInfo.st_mtim.tv_sec
              || (indexInfo.st_mtim.tv_sec == dataInfo.st_mtim.tv_sec && indexInfo.st_mtim.tv_nsec >= dataInfo.st_mtim.tv_nsec)
        else { return nil }
        let loaded = try Loaded(index)
        if !compressed && loaded.end != fileSize {
            throw TFRecordError.invalidInput(file: index, line: 0,
                                             message: "this index ends at byte \(loaded.end) but \(file) has \(fileSize) bytes: run `prism index` again")
        }
        return loaded
    }

    /// The offsets of an index file, one per record.
    struct Loaded {
        let offsets: [UInt64]
        /// Where the last record ends.
        let end: UInt64
        var count: Int { offsets.count }

        init(_ path: String) throws {
            var offsets: [UInt64] = []
            var end: UInt64 = 0
            try LineReader.forEachLine(path) { line, number in
                let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
                guard fields.count == 2, let offset = UInt64(String(decoding: fields[0], as: UTF8.self)),
                      let length = UInt64(String(decoding: fields[1].filter { $0 != 0x0D }, as: UTF8.self)), length >= 16,
                      offset == end || offsets.isEmpty && offset == 0
                else {
                    throw TFRecordError.invalidInput(file: path, line: number, message: "not an index line (\"offset length\", records in order)")
                }
                offsets.append(offset)
                end = offset + length
                return true
            }
            self.offsets = offsets
            self.end = end
        }
    }
}
