// Whole-stream compression (spec §1): none, GZIP, ZLIB through zlib, streamed in fixed-size chunks so
// memory stays constant whatever the file size. Also the plain file source and sink the reader and
// writer sit on.
import CZlib
import Foundation

public enum TFRecordCompression: String, CaseIterable, Sendable {
    case none, gzip, zlib

    /// From the file name: `.gz` → gzip, `.zz` / `.zlib` → zlib, anything else → none.
    public static func fromExtension(_ path: String) -> TFRecordCompression {
        let lower = path.lowercased()
        if lower.hasSuffix(".gz") || lower.hasSuffix(".gzip") { return .gzip }
        if lower.hasSuffix(".zz") || lower.hasSuffix(".zlib") { return .zlib }
        return .none
    }

    /// Guess from the first bytes (TensorFlow never sniffs; `--compression auto` does).
    /// A valid TFRecord header wins, since a plain length can start with 1F 8B or 78 9C.
    public static func sniff(_ prefix: UnsafeRawBufferPointer) -> TFRecordCompression {
        if prefix.count >= 12 {
            let lengthBytes = UnsafeRawBufferPointer(rebasing: prefix[0 ..< 8])
            if CRC32C.maskedChecksum(lengthBytes) == prefix.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian {
                return .none
            }
        }
        if prefix.count >= 2 && prefix[0] == 0x1F && prefix[1] == 0x8B { return .gzip }
        if prefix.count >= 2 {
            let cmf = UInt16(prefix[0]), flg = UInt16(prefix[1])
            if cmf & 0x0F == 8 && cmf >> 4 <= 7 && (cmf << 8 | flg) % 31 == 0 && flg & 0x20 == 0 { return .zlib }
        }
        return .none
    }

    /// The conventional file suffix after `.tfrecord`.
    public var fileSuffix: String {
        switch self {
        case .none: return ""
        case .gzip: return ".gz"
        case .zlib: return ".zz"
        }
    }

    /// zlib's windowBits: 15 with a zlib header, +16 for a gzip header.
    var windowBits: Int32 { self == .gzip ? 15 + 16 : 15 }
}

/// How a byte stream failed, before the reader attaches a record location.
enum StreamFailure: Error {
    case io(function: String, message: String)
    case truncated
    case zlib(function: String, message: String)
}

/// The chunk size for file reads and writes.
let streamChunkSize = 1 << 20

// MARK: - Sources

/// Sequential bytes: `read` returns 0 only at the end.
protocol ByteSource: AnyObject {
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int
    /// Bytes consumed from the file so far (compressed bytes for compressed files).
    var fileBytesRead: UInt64 { get }
}

final class FileSource: ByteSource {
    let path: String
    let descriptor: Int32
    let size: UInt64
    private(set) var fileBytesRead: UInt64 = 0

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 { throw systemError("open", path) }
        var info = stat()
        if fstat(descriptor, &info) != 0 {
            let error = systemError("fstat", path)
            close(descriptor)
            throw error
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            close(descriptor)
            throw TFRecordError.io(file: path, function: "open", message: "is a directory")
        }
        size = UInt64(info.st_size)
        #if os(Linux)
        _ = posix_fadvise(descriptor, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
    }

    deinit { close(descriptor) }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while true {
            let n = Foundation.read(descriptor, buffer, count)
            if n >= 0 {
                fileBytesRead += UInt64(n)
                return n
            }
            if errno == EINTR { continue }
            throw StreamFailure.io(function: "read", message: String(cString: strerror(errno)))
        }
    }

    /// Moves the read position (uncompressed TFRecord files, from an index or past a payload).
    func seek(to offset: UInt64) throws {
        if lseek(descriptor, off_t(offset), SEEK_SET) < 0 {
            throw StreamFailure.io(function: "lseek", message: String(cString: strerror(errno)))
        }
    }

    /// Reads up to `count` bytes, looping over short reads.
    func readFully(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var total = 0
        while total < count {
            let n = try read(into: buffer + total, count: count - total)
            if n == 0 { break }
            total += n
        }
        return total
    }
}

/// Inflates a gzip or zlib file chunk by chunk. Concatenated gzip members are read as one stream.
final class InflateSource: ByteSource {
    private let file: FileSource
    private let compression: TFRecordCompression
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let input = UnsafeMutableRawPointer.allocate(byteCount: streamChunkSize, alignment: 64)
    private var inputEnded = false
    private var streamEnded = false
    /// An error met after some output was produced: reported on the next call, so that every complete
    /// record before a corrupt or truncated spot is still delivered.
    private var pendingError: Error?

    /// `prefix` holds bytes already read from `file` (by sniffing).
    init(file: FileSource, compression: TFRecordCompression, prefix: UnsafeRawBufferPointer) throws {
        self.file = file
        self.compression = compression
        stream.initialize(to: z_stream())
        let status = inflateInit2_(stream, compression.windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw TFRecordError.io(file: file.path, function: "inflateInit2", message: zlibMessage(status, nil))
        }
        if prefix.count > 0 { input.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count) }
        stream.pointee.next_in = input.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(prefix.count)
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    var fileBytesRead: UInt64 { file.fileBytesRead }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        if let pendingError { throw pendingError }
        if streamEnded || count == 0 { return 0 }
        stream.pointee.next_out = buffer.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(min(count, Int(UInt32.max)))
        let wanted = stream.pointee.avail_out
        do {
            try inflateSome()
        } catch {
            let produced = Int(wanted - stream.pointee.avail_out)
            if produced == 0 { throw error }
            pendingError = error
            return produced
        }
        return Int(wanted - stream.pointee.avail_out)
    }

    /// Inflates until the output window is full or the stream ends.
    private func inflateSome() throws {
        while stream.pointee.avail_out > 0 {
            if stream.pointee.avail_in == 0 && !inputEnded { try refill() }
            let status = inflate(stream, Z_NO_FLUSH)
            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                if try !startNextMember() {
                    streamEnded = true
                    return
                }
            case Z_BUF_ERROR where stream.pointee.avail_in == 0 && inputEnded:
                throw StreamFailure.truncated
            case Z_BUF_ERROR:
                continue
            default:
                throw StreamFailure.zlib(function: "inflate", message: zlibMessage(status, stream.pointee.msg))
            }
        }
    }

    private func refill() throws {
        let n = try file.read(into: input, count: streamChunkSize)
        if n == 0 { inputEnded = true }
        stream.pointee.next_in = input.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = UInt32(n)
    }

    /// After a gzip member ends: another member follows (true), the file ends (false), or garbage follows (throws).
    private func startNextMember() throws -> Bool {
        if stream.pointee.avail_in == 0 && !inputEnded { try refill() }
        if stream.pointee.avail_in == 0 { return false }
        let next = stream.pointee.next_in!
        if compression == .gzip && next[0] == 0x1F && (stream.pointee.avail_in < 2 || next[1] == 0x8B) {
            inflateReset(stream)
            return true
        }
        throw StreamFailure.zlib(function: "inflate", message: "trailing garbage after the \(compression.rawValue) stream")
    }
}

func zlibMessage(_ status: Int32, _ message: UnsafeMutablePointer<CChar>?) -> String {
    if let message { return String(cString: message) }
    switch status {
    case Z_MEM_ERROR: return "out of memory"
    case Z_VERSION_ERROR: return "zlib version mismatch"
    case Z_STREAM_ERROR: return "invalid stream state"
    case Z_DATA_ERROR: return "invalid data"
    case Z_BUF_ERROR: return "no progress possible"
    default: return "status \(status)"
    }
}

// MARK: - Sinks

protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes everything (and the compressed trailer) to the file; the sink is unusable afterwards.
    func finish() throws
}

final class FileSink: ByteSink {
    let path: String
    let descriptor: Int32
    private(set) var bytesWritten: UInt64 = 0
    private var closed = false

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw systemError("open", path) }
    }

    deinit { if !closed { Foundation.close(descriptor) } }

    /// Closes the file, reporting what close(2) reports (a network file system may say ENOSPC only here).
    func close() throws {
        guard !closed else { return }
        closed = true
        if Foundation.close(descriptor) != 0 { throw systemError("close", path) }
    }

    /// Writes all of `bytes` to a new file at `path` (which must be a temporary name) and closes it.
    static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let sink = try FileSink(path: path)
        try sink.write(bytes)
        try sink.close()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = FaultInjection.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw systemError("write", path)
            }
            offset += n
        }
        bytesWritten += UInt64(bytes.count)
    }

    func finish() throws {}
}

final class DeflateSink: ByteSink {
    private let file: FileSink
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let output = UnsafeMutableRawPointer.allocate(byteCount: streamChunkSize, alignment: 64)

    init(file: FileSink, compression: TFRecordCompression, level: Int32) throws {
        self.file = file
        stream.initialize(to: z_stream())
        let status = deflateInit2_(stream, level, Z_DEFLATED, compression.windowBits, 8, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            output.deallocate()
            throw TFRecordError.io(file: file.path, function: "deflateInit2", message: zlibMessage(status, nil))
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = UInt32(bytes.count)
        try pump(Z_NO_FLUSH)
    }

    func finish() throws {
        stream.pointee.avail_in = 0
        try pump(Z_FINISH)
    }

    private func pump(_ flush: Int32) throws {
        repeat {
            stream.pointee.next_out = output.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(streamChunkSize)
            let status = deflate(stream, flush)
            if status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR {
                throw TFRecordError.io(file: file.path, function: "deflate", message: zlibMessage(status, stream.pointee.msg))
            }
            let produced = streamChunkSize - Int(stream.pointee.avail_out)
            if produced > 0 { try file.write(UnsafeRawBufferPointer(start: output, count: produced)) }
            if flush == Z_FINISH && status == Z_STREAM_END { return }
        } while stream.pointee.avail_out == 0 || (flush == Z_FINISH)
    }
}

// MARK: - Test hook

/// Lets tests make writes fail as on a full disk: after `failWrites(after:)` bytes more, every write returns
/// ENOSPC. Off (one branch per write) unless a test turns it on.
enum FaultInjection {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var enabled = false
    nonisolated(unsafe) private static var budget = 0

    static func failWrites(after bytes: Int?) {
        lock.withLock {
            enabled = bytes != nil
            budget = bytes ?? 0
        }
    }

    @inline(__always)
    static func write(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        guard enabled else { return Foundation.write(descriptor, bytes, count) }
        let allowed: Int = lock.withLock {
            let n = min(count, budget)
            budget -= n
            return n
        }
        if allowed == 0 && count > 0 {
            errno = ENOSPC
            return -1
        }
        return Foundation.write(descriptor, bytes, allowed)
    }
}
