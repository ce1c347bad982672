// Streaming TFRecord writer (spec §1). Writes to `<path>.partial` and renames to `path` on `close()`, so an
// interrupted run never leaves a half-written file under a final name.
import CZlib
import Foundation

public final class TFRecordWriter {
    public let path: String
    public let compression: TFRecordCompression
    public private(set) var recordCount = 0
    /// Uncompressed bytes written so far.
    public private(set) var bytesWritten: UInt64 = 0

    /// The name written to until `close()`.
    public var temporaryPath: String { path + ".partial" }

    private let file: FileSink
    private let sink: ByteSink
    private let buffer = UnsafeMutableRawPointer.allocate(byteCount: streamChunkSize, alignment: 64)
    private var used = 0
    private var closed = false

    /// `compression` nil means: from the extension (`.gz` → gzip, `.zz`/`.zlib` → zlib).
    /// `level` is zlib's (-1: default, 1 fastest … 9 smallest), as in tf.io.TFRecordOptions.
    public init(path: String, compression: TFRecordCompression? = nil, level: Int32 = Z_DEFAULT_COMPRESSION) throws {
        self.path = path
        self.compression = compression ?? .fromExtension(path)
        file = try FileSink(path: path + ".partial")
        do {
            sink = self.compression == .none ? file : try DeflateSink(file: file, compression: self.compression, level: level)
        } catch {
            unlink(path + ".partial")
            buffer.deallocate()
            throw error
        }
    }

    deinit {
        if !closed { unlink(temporaryPath) }   // never leave a partial file behind an error
        buffer.deallocate()
    }

    /// Appends one record.
    public func write(_ payload: UnsafeRawBufferPointer) throws {
        precondition(!closed, "TFRecordWriter used after close()")
        // uint64 length, uint32 masked CRC of those 8 bytes, payload, uint32 masked CRC of the payload (spec §1).
        var length = UInt64(payload.count).littleEndian
        var lengthCRC = withUnsafeBytes(of: &length) { CRC32C.maskedChecksum($0) }.littleEndian
        var dataCRC = CRC32C.maskedChecksum(payload).littleEndian
        try withUnsafeBytes(of: &length) { try append($0) }
        try withUnsafeBytes(of: &lengthCRC) { try append($0) }
        try append(payload)
        try withUnsafeBytes(of: &dataCRC) { try append($0) }
        recordCount += 1
        bytesWritten += UInt64(payload.count) + 16
    }

    public func write<Bytes: ContiguousBytes>(_ payload: Bytes) throws {
        try payload.withUnsafeBytes { try write($0) }
    }

    public func write(_ example: Example) throws {
        try write(example.serialized())
    }

    public func write(_ example: SequenceExample) throws {
        try write(example.serialized())
    }

    /// Flushes, finishes the compressed stream and renames the file to its final name.
    public func close() throws {
        guard !closed else { return }
        try flush()
        try sink.finish()
        if fsync(file.descriptor) != 0 { throw systemError("fsync", temporaryPath) }
        if rename(temporaryPath, path) != 0 { throw systemError("rename", path) }
        closed = true
    }

    // MARK: - Buffering

    private func append(_ bytes: UnsafeRawBufferPointer) throws {
        if used + bytes.count > streamChunkSize {
            try flush()
            if bytes.count > streamChunkSize {   // a large payload goes straight through
                try sink.write(bytes)
                return
            }
        }
        if bytes.count > 0 { (buffer + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        used += bytes.count
    }

    private func flush() throws {
        guard used > 0 else { return }
        try sink.write(UnsafeRawBufferPointer(start: buffer, count: used))
        used = 0
    }
}
