// Streaming TFRecord reader (spec §1, §2): length, masked CRC of length, payload, masked CRC of payload.
// Memory stays at one 1 MiB buffer (grown only to the largest record), and each payload is handed out
// in place, without a copy, and checked with the hardware CRC.
import Foundation

public final class TFRecordReader {
    public let path: String
    public let compression: TFRecordCompression
    /// Continue past corrupt records instead of throwing; see `skipped`.
    public var skipCorrupt: Bool
    /// Check the payload CRC (the length CRC is always checked: the framing depends on it).
    public var verifyChecksums = true
    /// Largest payload accepted from a compressed stream, whose end is unknown in advance.
    public var maxRecordBytes: UInt64 = 1 << 31

    /// Index of the next record.
    public private(set) var recordIndex = 0
    /// Offset of the next record's header (uncompressed bytes).
    public private(set) var offset: UInt64 = 0
    /// With `skipCorrupt`, every record given up on, in order. A bad payload CRC skips one record; a bad
    /// length or a truncation gives up on the rest of the file (there is no way to find the next header).
    public private(set) var skipped: [TFRecordError] = []

    /// Bytes consumed from the file so far (compressed bytes for compressed files); for progress reports.
    public var fileBytesRead: UInt64 { source.fileBytesRead }
    /// The file's size on disk.
    public let fileSize: UInt64

    private let source: ByteSource
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0, end = 0
    private var sourceEnded = false
    private var finished = false

    /// Opens `path`. `compression` nil means auto: sniff the first bytes (gzip magic, zlib header, or a
    /// valid TFRecord header).
    public init(path: String, compression: TFRecordCompression? = nil, skipCorrupt: Bool = false) throws {
        self.path = path
        self.skipCorrupt = skipCorrupt
        let file = try FileSource(path: path)
        fileSize = file.size
        capacity = streamChunkSize
        buffer = .allocate(byteCount: capacity, alignment: 64)
        do {
            // Read a first chunk: used for sniffing, then handed to the plain buffer or to zlib.
            let n = try file.readFully(into: buffer, count: min(capacity, 64 << 10))
            let prefix = UnsafeRawBufferPointer(start: buffer, count: n)
            let chosen = compression ?? TFRecordCompression.sniff(prefix)
            self.compression = chosen
            if chosen == .none {
                source = file
                end = n
                sourceEnded = n == 0
            } else {
                source = try InflateSource(file: file, compression: chosen, prefix: prefix)
            }
        } catch {
            buffer.deallocate()
            throw Self.fileError(error, path)
        }
    }

    deinit { buffer.deallocate() }

    // MARK: - Reading

    /// Calls `body` with the next payload (valid only during the call); nil at the end of the file.
    public func withNextRecord<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        while !finished {
            let payload: UnsafeRawBufferPointer?
            do {
                payload = try nextPayload()
            } catch let error as TFRecordError {
                guard skipCorrupt, error.location?.file == path else {
                    finished = true
                    throw error
                }
                skipped.append(error)
                if case .corruptedData = error { continue }   // the framing is intact: next header
                finished = true
                return nil
            }
            guard let payload else {
                finished = true
                return nil
            }
            return try body(payload)
        }
        return nil
    }

    /// The next payload, copied; nil at the end.
    public func next() throws -> [UInt8]? {
        try withNextRecord { [UInt8]($0) }
    }

    /// Calls `body` for every remaining record, as repeated `withNextRecord` calls would (same records, same errors,
    /// same skips), but faster: records already in the buffer are framed and checked with the reader's position in
    /// local variables, which the reader's properties catch up with only between buffer refills.
    /// `recordIndex` and `offset` are current when it returns or throws, not during `body`.
    /// A `.invalidExample(nil, …)` thrown by `body` is given the record's location; with `skipCorrupt` it is
    /// noted in `skipped` and reading goes on.
    public func forEachRecord(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while !finished {
            var s = start, off = offset, index = recordIndex, recordStart = offset
            let e = end, base = buffer, verify = verifyChecksums, plain = compression == .none, size = fileSize
            do {
                while e - s >= 12 {
                    let header = base + s
                    let length = header.loadUnaligned(as: UInt64.self).littleEndian
                    let lengthCRC = header.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
                    guard CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(start: header, count: 8))) == lengthCRC,
                          !plain || length <= size - min(size, off + 12), e - s >= 16, length <= UInt64(e - s - 16) else { break }
                    let payload = UnsafeRawBufferPointer(start: header + 12, count: Int(length))
                    if verify {
                        let dataCRC = (header + 12 + Int(length)).loadUnaligned(as: UInt32.self).littleEndian
                        guard CRC32C.mask(CRC32C.checksum(payload)) == dataCRC else { break }
                    }
                    recordStart = off
                    s += 16 + Int(length)
                    off += 16 + length
                    index += 1
                    try body(payload)
                }
                start = s
                offset = off
                recordIndex = index
            } catch TFRecordError.invalidExample(nil, let reason) {
                start = s
                offset = off
                recordIndex = index
                try noteInvalid(reason, at: recordStart)
                continue
            } catch {
                start = s
                offset = off
                recordIndex = index
                throw error
            }
            // What the fast loop left (a refill, a corrupt or truncated record, the end) goes the careful way.
            var length = -1
            do {
                if try withNextRecord({ (payload: UnsafeRawBufferPointer) -> Void in
                    length = payload.count
                    try body(payload)
                }) == nil { return }
            } catch TFRecordError.invalidExample(nil, let reason) where length >= 0 {
                try noteInvalid(reason, at: offset - UInt64(16 + length))
            }
        }
    }

    /// A payload that `body` found not to be a tf.Example: thrown with its location, or noted with `skipCorrupt`.
    private func noteInvalid(_ reason: String, at recordOffset: UInt64) throws {
        let error = TFRecordError.invalidExample(RecordLocation(file: path, record: recordIndex - 1, offset: recordOffset), reason: reason)
        guard skipCorrupt else { throw error }
        skipped.append(error)
    }

    /// The next record decoded as a tf.Example; a payload that is not one throws `.invalidExample` with its
    /// location (or, with `skipCorrupt`, is recorded in `skipped`).
    public func nextExample() throws -> Example? {
        while true {
            let location = RecordLocation(file: path, record: recordIndex, offset: offset)
            do {
                return try withNextRecord { try Example(serialized: $0) }
            } catch TFRecordError.invalidExample(nil, let reason) {
                let error = TFRecordError.invalidExample(location, reason: reason)
                guard skipCorrupt else { throw error }
                skipped.append(error)
            }
        }
    }

    /// Records an error found above the framing layer (e.g. an undecodable payload) as skipped.
    public func noteSkipped(_ error: TFRecordError) { skipped.append(error) }

    // MARK: - Frames, for callers that number records themselves

    /// The next frame's payload (valid until the next call), or nil at the end, skipping nothing: a payload whose
    /// CRC fails throws `.corruptedData` with the reader already past it, so the next call reads the next frame;
    /// any other error ends the file. `skipCorrupt` plays no part here.
    func nextFrame() throws -> UnsafeRawBufferPointer? {
        guard !finished else { return nil }
        do {
            guard let payload = try nextPayload() else {
                finished = true
                return nil
            }
            return payload
        } catch let error as TFRecordError {
            if case .corruptedData = error {} else { finished = true }
            throw error
        }
    }

    /// Steps over up to `count` frames without reading their payloads where it can (uncompressed files: only the
    /// 12-byte headers are read, the reader seeks past the rest) and without checking payload CRCs. Returns how
    /// many it stepped over: fewer only at the end of the file. Framing errors throw, as in `nextFrame`.
    @discardableResult
    func skipFrames(_ count: Int) throws -> Int {
        var done = 0
        while done < count && !finished {
            let headerAvailable = try fill(12)
            if headerAvailable == 0 { finished = true; break }
            guard headerAvailable >= 12 else {
                finished = true
                throw TFRecordError.truncatedHeader(location, available: headerAvailable)
            }
            let length = try checkedLength(buffer + start)
            let recordSize = 12 + Int(length) + 4
            if end - start >= recordSize || compression != .none {
                let available = try fill(recordSize)
                guard available >= recordSize else {
                    finished = true
                    throw TFRecordError.truncatedPayload(location, length: length, available: UInt64(max(0, available - 12)))
                }
                advance(recordSize)
            } else {
                // The payload is not buffered: seek past it (the size check above guarantees it is in the file).
                try seekFile(to: offset + UInt64(recordSize))
                recordIndex += 1
            }
            done += 1
        }
        return done
    }

    /// Starts reading at the record that begins at `offset` (uncompressed files; from an index), numbered `record`.
    func seek(toOffset newOffset: UInt64, record: Int) throws {
        precondition(compression == .none, "seek needs an uncompressed file")
        try seekFile(to: newOffset)
        recordIndex = record
        finished = false
    }

    private func seekFile(to newOffset: UInt64) throws {
        guard let file = source as? FileSource else { preconditionFailure("seek on a compressed stream") }
        do { try file.seek(to: newOffset) } catch { throw Self.fileError(error, path) }
        start = 0
        end = 0
        sourceEnded = newOffset >= fileSize
        offset = newOffset
    }

    // MARK: - Framing

    private var location: RecordLocation { RecordLocation(file: path, record: recordIndex, offset: offset) }

    private func nextPayload() throws -> UnsafeRawBufferPointer? {
        let headerAvailable = try fill(12)
        if headerAvailable == 0 { return nil }
        guard headerAvailable >= 12 else { throw TFRecordError.truncatedHeader(location, available: headerAvailable) }

        let length = try checkedLength(buffer + start)
        let recordSize = 12 + Int(length) + 4
        let available = try fill(recordSize)
        guard available >= recordSize else {
            throw TFRecordError.truncatedPayload(location, length: length, available: UInt64(max(0, available - 12)))
        }
        let payload = UnsafeRawBufferPointer(start: buffer + start + 12, count: Int(length))
        if verifyChecksums {
            let dataCRC = (buffer + start + 12 + Int(length)).loadUnaligned(as: UInt32.self).littleEndian
            guard CRC32C.mask(CRC32C.checksum(payload)) == dataCRC else {
                // Step over the record so that a caller skipping corrupt records finds the next header.
                advance(recordSize)
                throw TFRecordError.corruptedData(RecordLocation(file: path, record: recordIndex - 1, offset: offset - UInt64(recordSize)))
            }
        }
        advance(recordSize)
        return payload
    }

    /// The length in a 12-byte header, its CRC checked and its size possible: impossible lengths are refused
    /// before anything is allocated for them.
    @inline(__always)
    private func checkedLength(_ header: UnsafeMutableRawPointer) throws -> UInt64 {
        let length = header.loadUnaligned(as: UInt64.self).littleEndian
        let lengthCRC = header.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
        guard CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(start: header, count: 8))) == lengthCRC else {
            throw TFRecordError.corruptedLength(location)
        }
        if compression == .none {
            let left = fileSize - min(fileSize, offset + 12)
            if length > left || left - length < 4 {
                throw TFRecordError.truncatedPayload(location, length: length, available: left)
            }
        } else if length > maxRecordBytes {
            throw TFRecordError.recordTooLarge(location, length: length, limit: maxRecordBytes)
        }
        return length
    }

    private func advance(_ size: Int) {
        start += size
        offset += UInt64(size)
        recordIndex += 1
    }

    /// Makes up to `needed` bytes available from `start`, reading in large chunks; returns how many are.
    private func fill(_ needed: Int) throws -> Int {
        while end - start < needed && !sourceEnded {
            if end == capacity {
                if start > 0 {
                    // Slide the partial record to the front.
                    memmove(buffer, buffer + start, end - start)
                    end -= start
                    start = 0
                } else {
                    // One record larger than the buffer: grow, doubling at most, so that a corrupt length in a
                    // compressed stream costs no more memory than the data actually there.
                    grow(to: min(max(needed, streamChunkSize), capacity * 2))
                }
            }
            let n: Int
            do {
                n = try source.read(into: buffer + end, count: capacity - end)
            } catch {
                throw Self.streamError(error, location, compression)
            }
            if n == 0 { sourceEnded = true }
            end += n
        }
        return end - start
    }

    private func grow(to newCapacity: Int) {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 64)
        bigger.copyMemory(from: buffer + start, byteCount: end - start)
        buffer.deallocate()
        buffer = bigger
        end -= start
        start = 0
        capacity = newCapacity
    }

    private static func streamError(_ error: Error, _ location: RecordLocation, _ compression: TFRecordCompression) -> Error {
        switch error {
        case StreamFailure.truncated: return TFRecordError.truncatedStream(location, compression: compression)
        case StreamFailure.zlib(let function, let message):
            return TFRecordError.compression(location, function: function, message: message)
        case StreamFailure.io(let function, let message):
            return TFRecordError.io(file: location.file, function: function, message: message)
        default: return error
        }
    }

    private static func fileError(_ error: Error, _ path: String) -> Error {
        streamError(error, RecordLocation(file: path, record: 0, offset: 0), .none)
    }
}
