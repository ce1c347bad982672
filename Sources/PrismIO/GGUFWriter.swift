// Writes GGUF files (version 3, the layout GGUFFile reads) as a stream: the header, metadata and tensor
// infos first (offsets follow from the shapes and types), then each tensor's bytes in order, handed over in
// pieces by a producer, so a checkpoint larger than memory is written one slice at a time. The file appears
// under its name only when complete (temporary name, then rename).
import Foundation
import PrismCore
#if canImport(Glibc)
import Glibc
#endif

public enum GGUFWriter {
    public struct TensorSpec: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        /// Row-major (the file stores it reversed, as ggml's ne).
        public let shape: [Int]
        public init(_ name: String, _ dtype: DType, _ shape: [Int]) { self.name = name; self.dtype = dtype; self.shape = shape }
        public var byteCount: Int { dtype.byteCount(shape: shape)! }
    }

    /// Streams a file to `url`. `fill(i, emit)` must pass tensor i's bytes to `emit`, in one or more pieces
    /// that add up to `tensors[i].byteCount`. `alignment` other than 32 is recorded as `general.alignment`.
    public static func write(to url: URL, metadata: [(key: String, value: GGUFValue)], tensors: [TensorSpec],
                             alignment: Int = GGUFFile.defaultAlignment,
                             fill: (Int, (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "GGUFWriter: alignment \(alignment)")
        for t in tensors {
            precondition(t.dtype.ggmlType != nil && t.dtype.byteCount(shape: t.shape) != nil && (1...GGUFFile.maxDimensions).contains(t.shape.count),
                         "GGUFWriter: \(t.name) cannot be stored as \(t.dtype.rawValue) \(t.shape)")
            precondition(t.name.utf8.count <= GGUFFile.maxNameBytes, "GGUFWriter: tensor name \(t.name) is too long")
        }
        var kv = metadata
        if alignment != GGUFFile.defaultAlignment, !kv.contains(where: { $0.key == "general.alignment" }) {
            kv.append(("general.alignment", .uint(UInt64(alignment), .uint32)))
        }
        var head = ByteWriter()
        head.bytes(GGUFFile.magic)
        head.u32(3)
        head.u64(UInt64(tensors.count))
        head.u64(UInt64(kv.count))
        for (key, value) in kv {
            head.string(key)
            head.value(value)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            head.string(t.name)
            head.u32(UInt32(t.shape.count))
            for d in t.shape.reversed() { head.u64(UInt64(d)) }
            head.u32(UInt32(t.dtype.ggmlType!))
            head.u64(UInt64(offset))
            offsets.append(offset)
            offset = (offset + t.byteCount + alignment - 1) / alignment * alignment
        }
        head.pad(to: alignment)

        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())")
        guard let f = fopen(tmp.path, "wb") else {
            throw IOError.cannotWrite(path: url.path, reason: String(cString: strerror(errno)))
        }
        var closed = false
        func fail(_ reason: String) -> IOError {
            if !closed { fclose(f); closed = true }
            unlink(tmp.path)
            return IOError.cannotWrite(path: url.path, reason: reason)
        }
        func put(_ p: UnsafeRawBufferPointer) throws {
            guard p.count == 0 || fwrite(p.baseAddress!, 1, p.count, f) == p.count else { throw fail(String(cString: strerror(errno))) }
        }
        do {
            try head.data.withUnsafeBytes { try put($0) }
            let zeros = [UInt8](repeating: 0, count: alignment)
            var written = 0
            for (i, t) in tensors.enumerated() {
                if offsets[i] > written { try zeros.withUnsafeBytes { try put(UnsafeRawBufferPointer(rebasing: $0[0..<(offsets[i] - written)])) } }
                written = offsets[i]
                var produced = 0
                try fill(i) { piece in
                    produced += piece.count
                    precondition(produced <= t.byteCount, "GGUFWriter: \(t.name) got more than its \(t.byteCount) bytes")
                    try put(piece)
                }
                precondition(produced == t.byteCount, "GGUFWriter: \(t.name) got \(produced) of its \(t.byteCount) bytes")
                written += produced
            }
            guard fflush(f) == 0, fsync(fileno(f)) == 0 else { throw fail(String(cString: strerror(errno))) }
            closed = true
            guard fclose(f) == 0 else { unlink(tmp.path); throw IOError.cannotWrite(path: url.path, reason: String(cString: strerror(errno))) }
            guard rename(tmp.path, url.path) == 0 else { unlink(tmp.path); throw IOError.cannotWrite(path: url.path, reason: String(cString: strerror(errno))) }
        } catch {
            if !closed { fclose(f); closed = true }
            unlink(tmp.path)
            throw error
        }
    }
}

/// Little-endian serialisation of the GGUF header parts.
struct ByteWriter {
    var data = Data()

    mutating func bytes<S: Sequence>(_ b: S) where S.Element == UInt8 { data.append(contentsOf: b) }
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); data.append(contentsOf: s.utf8) }
    mutating func pad(to alignment: Int) { while data.count % alignment != 0 { data.append(0) } }

    mutating func value(_ v: GGUFValue) {
        switch v {
        case let .array(a):
            u32(GGUFValueType.array.rawValue)
            u32(a.elementType.rawValue)
            u64(UInt64(a.count))
            for e in a.values { payload(e, as: a.elementType) }
        case .bool: u32(GGUFValueType.bool.rawValue); payload(v, as: .bool)
        case .string: u32(GGUFValueType.string.rawValue); payload(v, as: .string)
        case let .uint(_, t), let .int(_, t), let .float(_, t): u32(t.rawValue); payload(v, as: t)
        }
    }

    /// The value's bytes without its type tag, converted to `type`.
    mutating func payload(_ v: GGUFValue, as type: GGUFValueType) {
        switch (v, type) {
        case let (.string(s), .string): string(s)
        case let (.bool(b), .bool): u8(b ? 1 : 0)
        case let (.float(d, _), .float32): u32(Float(d).bitPattern)
        case let (.float(d, _), .float64): u64(d.bitPattern)
        default:
            let i: Int64
            switch v {
            case let .uint(u, _): i = Int64(bitPattern: u)
            case let .int(s, _): i = s
            default: preconditionFailure("GGUFWriter: \(v) is not a \(type)")
            }
            switch type {
            case .uint8, .int8: u8(UInt8(truncatingIfNeeded: i))
            case .uint16, .int16: u16(UInt16(truncatingIfNeeded: i))
            case .uint32, .int32: u32(UInt32(truncatingIfNeeded: i))
            case .uint64, .int64: u64(UInt64(bitPattern: i))
            default: preconditionFailure("GGUFWriter: \(v) is not a \(type)")
            }
        }
    }
}
