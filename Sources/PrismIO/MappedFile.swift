import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory map of a whole file. Pages are loaded by the kernel as they are touched, so
/// opening a multi-GB checkpoint costs nothing and resident memory grows only with what is read.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw IOError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw IOError.cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw IOError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    public var count: Int { bytes.count }

    /// Maps into this process, on a background thread, the pages of the file that are already in the page cache,
    /// so that the first products to read them do not stop for page faults. Decoding a Q4_K_M Kimi-VL takes a
    /// fault per 64 KiB of experts it has not used before, a few per cent of the first hundred tokens; llama.cpp
    /// maps the whole file at load (MAP_POPULATE) instead, which also reads what is not cached. Pages that are not
    /// cached are left alone, so this never reads the disk and a model larger than memory is not pulled in. The
    /// thread holds the mapping until it is done.
    public func mapCachedPagesInBackground() {
        guard bytes.count > 0 else { return }
        Thread.detachNewThread { [self] in
            Thread.current.qualityOfService = .utility
            mapCachedPages()
        }
    }

    /// One read per 16 pages (the kernel maps a fault's neighbours too: 64 KiB by default) that holds a cached page.
    func mapCachedPages() {
        guard let base = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE))), window = 16
        var resident = [UInt8](repeating: 0, count: (bytes.count + page - 1) / page)
        guard mincore(UnsafeMutableRawPointer(mutating: base), bytes.count, &resident) == 0 else { return }
        var sink: UInt8 = 0
        resident.withUnsafeBufferPointer { r in
            var w = 0
            while w < r.count {
                let end = min(w + window, r.count)
                var p = w
                while p < end && r[p] & 1 == 0 { p += 1 }
                if p < end { sink &+= base.load(fromByteOffset: p * page, as: UInt8.self) }
                w = end
            }
        }
        MappedFile.sink = sink
    }
    nonisolated(unsafe) private static var sink: UInt8 = 0   // keeps the reads

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// File-level errors shared by PrismIO readers.
public enum IOError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): "\(path): cannot open: \(reason)"
        case let .cannotWrite(path, reason): "\(path): cannot write: \(reason)"
        }
    }
}

/// The whole file as bytes. Errors carry the system's reason (`No such file or directory`, `Is a directory`,
/// `Permission denied`), not Foundation's generic wording.
public func readFile(_ url: URL) throws -> Data {
    let path = url.path
    func failure() -> IOError { .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw failure() }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw failure() }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw IOError.cannotOpen(path: path, reason: String(cString: strerror(EISDIR))) }
    var data = Data()
    if (st.st_mode & S_IFMT) == S_IFREG { data.reserveCapacity(Int(st.st_size)) }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; throw failure() }
        if n == 0 { break }
        data.append(contentsOf: chunk[0..<n])
    }
    return data
}

/// `mkdir -p`, with the system's reason on failure (`Read-only file system`, `Not a directory`).
public func createDirectory(_ url: URL) throws {
    var path = ""
    for part in url.standardizedFileURL.path.split(separator: "/", omittingEmptySubsequences: true) {
        path += "/" + part
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw IOError.cannotWrite(path: url.path, reason: String(cString: strerror(errno)))
        }
    }
    var st = stat()
    guard stat(url.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
        throw IOError.cannotWrite(path: url.path, reason: String(cString: strerror(ENOTDIR)))
    }
}

/// A file written under a temporary name beside its destination and renamed into place by `commit()`, so a
/// crash or an error never leaves a partial file. Errors name the destination and the system's reason
/// (`Read-only file system`, `No space left on device`, `Permission denied`), never Foundation's generic wording.
public final class AtomicFileWriter {
    public let url: URL
    private let tmp: String
    private var fd: Int32

    public init(_ url: URL) throws {
        self.url = url
        tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IOError.cannotWrite(path: url.path, reason: String(cString: strerror(errno))) }
    }

    deinit { abort() }

    public func write(_ raw: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < raw.count {
            let n = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                abort()
                throw IOError.cannotWrite(path: url.path, reason: String(cString: strerror(code)))
            }
            offset += n
        }
    }

    public func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }

    /// Closes the temporary file and renames it over the destination.
    public func commit() throws {
        var code: Int32 = 0
        if close(fd) != 0 { code = errno }
        fd = -1
        if code == 0 && rename(tmp, url.path) != 0 { code = errno }
        if code != 0 {
            unlink(tmp)
            throw IOError.cannotWrite(path: url.path, reason: String(cString: strerror(code)))
        }
    }

    /// Drops the temporary file (nothing at the destination changes).
    public func abort() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(tmp)
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#else
private let systemWrite = Darwin.write
#endif

/// Writes `data` to `url` atomically (see `AtomicFileWriter`).
public func writeAtomically(_ data: Data, to url: URL) throws {
    let file = try AtomicFileWriter(url)
    try file.write(data)
    try file.commit()
}

/// A byte count for people: "10.52 GB", "17.3 MB" (decimal units, as file managers show sizes).
public func formatBytes<T: BinaryInteger>(_ bytes: T) -> String {
    let value = Double(bytes)
    if value >= 1e9 { return String(format: "%.2f GB", value / 1e9) }
    if value >= 1e6 { return String(format: "%.1f MB", value / 1e6) }
    if value >= 1e3 { return String(format: "%.1f kB", value / 1e3) }
    return "\(bytes) B"
}
