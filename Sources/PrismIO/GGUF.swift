// GGUF files (the format of llama.cpp / ggml, version 2 and 3), memory-mapped and zero-copy:
//
//   "GGUF" u32 version · u64 tensor_count · u64 kv_count
//   kv_count × (string key · u32 value type · value)           string = u64 length + UTF-8 bytes
//   tensor_count × (string name · u32 n_dims · n_dims × u64 ne · u32 ggml type · u64 offset)
//   padding to `general.alignment` (default 32) · tensor data, each at its offset from the data start
//
// ne[0] is the fastest-varying dimension; Prism's shapes are row-major, so shape = ne reversed. Every count,
// length and offset is checked against the file size before anything is allocated from it, and every
// problem is one error that names the file (and key or tensor). Entry points: `GGUFFile(path:)` and
// `GGUFFile(bytes:name:)` (what the fuzz target calls).
import Foundation
import PrismCore

public enum GGUFError: Error, CustomStringConvertible, Equatable {
    case truncated(file: String, reading: String, offset: Int, fileSize: Int)
    case badMagic(file: String, found: String)
    case unsupportedVersion(file: String, version: UInt32)
    case absurdCount(file: String, what: String, count: UInt64, limit: Int)
    case invalidValue(file: String, key: String, reason: String)
    case duplicateKey(file: String, key: String)
    case invalidTensor(file: String, tensor: String, reason: String)
    case tooManyDimensions(file: String, tensor: String, dimensions: Int)
    case unknownType(file: String, tensor: String, type: UInt32)
    case misalignedOffset(file: String, tensor: String, offset: UInt64, alignment: Int)
    case dataPastEnd(file: String, tensor: String, end: UInt64, dataSize: Int)
    case duplicateTensor(file: String, tensor: String)
    case missingKey(file: String, key: String)
    case wrongKeyType(file: String, key: String, expected: String, found: String)
    case missingTensor(file: String, tensor: String)

    public var description: String {
        switch self {
        case let .truncated(f, what, o, s): "\(f): truncated: \(what) at byte \(o) runs past the end of the \(s)-byte file"
        case let .badMagic(f, m): "\(f): not a GGUF file (magic \(m), expected \"GGUF\")"
        case let .unsupportedVersion(f, v): "\(f): unsupported GGUF version \(v) (2 and 3 are supported)"
        case let .absurdCount(f, what, n, l): "\(f): \(what) \(n) is impossible for this file (at most \(l))"
        case let .invalidValue(f, k, r): "\(f): key \(quoted(k)): \(r)"
        case let .duplicateKey(f, k): "\(f): key \(quoted(k)) appears twice"
        case let .invalidTensor(f, t, r): "\(f): tensor \(quoted(t)): \(r)"
        case let .tooManyDimensions(f, t, n): "\(f): tensor \(quoted(t)): \(n) dimensions (GGUF allows 1 to 4)"
        case let .unknownType(f, t, ty): "\(f): tensor \(quoted(t)): unsupported ggml type \(ty) (\(ggmlTypeName(ty)))"
        case let .misalignedOffset(f, t, o, a): "\(f): tensor \(quoted(t)): data offset \(o) is not a multiple of the alignment \(a)"
        case let .dataPastEnd(f, t, e, s): "\(f): tensor \(quoted(t)): data ends at byte \(e) of a \(s)-byte data section (truncated file?)"
        case let .duplicateTensor(f, t): "\(f): tensor \(quoted(t)) appears twice"
        case let .missingKey(f, k): "\(f): missing key \(quoted(k))"
        case let .wrongKeyType(f, k, e, found): "\(f): key \(quoted(k)) is \(found), expected \(e)"
        case let .missingTensor(f, t): "\(f): no tensor named \(quoted(t))"
        }
    }
}

/// ggml's type names, for messages about types Prism does not read.
func ggmlTypeName(_ t: UInt32) -> String {
    let names = ["F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
                 "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
                 "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16"]
    return Int(t) < names.count ? names[Int(t)] : "unknown"
}

public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value on disk (strings: the smallest, an empty one).
    var minSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

/// A metadata value. Arrays keep their elements in the file until asked for (the token list of a
/// 160k-word vocabulary is never decoded unless the tokenizer needs it).
public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64, GGUFValueType)
    case int(Int64, GGUFValueType)
    case float(Double, GGUFValueType)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)

    public var typeName: String {
        switch self {
        case let .uint(_, t), let .int(_, t), let .float(_, t): "\(t)"
        case .bool: "bool"
        case .string: "string"
        case let .array(a): "array of \(a.elementType)"
        }
    }

    /// The value as an integer, if it is one that fits.
    public var intValue: Int? {
        switch self {
        case let .uint(v, _): v <= UInt64(Int.max) ? Int(v) : nil
        case let .int(v, _): Int(v)
        default: nil
        }
    }
}

public struct GGUFArray: @unchecked Sendable, Equatable {
    public let elementType: GGUFValueType
    public let count: Int
    enum Storage {
        case mapped(UnsafeRawBufferPointer, owner: AnyObject?)   // the elements' bytes, already validated
        case values([GGUFValue])
    }
    let storage: Storage

    public init(_ values: [GGUFValue], elementType: GGUFValueType) {
        self.elementType = elementType; count = values.count; storage = .values(values)
    }
    public init(strings: [String]) { self.init(strings.map { .string($0) }, elementType: .string) }
    public init(int32s: [Int32]) { self.init(int32s.map { .int(Int64($0), .int32) }, elementType: .int32) }
    public init(float32s: [Float]) { self.init(float32s.map { .float(Double($0), .float32) }, elementType: .float32) }

    init(mapped bytes: UnsafeRawBufferPointer, elementType: GGUFValueType, count: Int, owner: AnyObject?) {
        self.elementType = elementType; self.count = count; storage = .mapped(bytes, owner: owner)
    }

    /// All elements (decoded now).
    public var values: [GGUFValue] {
        switch storage {
        case let .values(v): return v
        case let .mapped(b, _):
            var c = GGUFCursor(bytes: b, file: "")
            return (0..<count).map { _ in try! c.scalar(elementType, key: "") }
        }
    }

    public var strings: [String]? {
        guard elementType == .string else { return nil }
        if case let .mapped(b, _) = storage {
            var c = GGUFCursor(bytes: b, file: "")
            return (0..<count).map { _ in try! c.string("") }
        }
        return values.map { if case let .string(s) = $0 { s } else { "" } }
    }
    public var ints: [Int]? { let v = values.compactMap(\.intValue); return v.count == count ? v : nil }
    public var floats: [Float]? {
        switch elementType {
        case .float32, .float64: values.map { if case let .float(d, _) = $0 { Float(d) } else { 0 } }
        default: ints.map { $0.map(Float.init) }
        }
    }

    public static func == (a: GGUFArray, b: GGUFArray) -> Bool {
        a.elementType == b.elementType && a.count == b.count && a.values == b.values
    }
}

/// One tensor's entry: row-major shape (ne reversed), storage type, bytes from the data-section start.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let offset: Int
    public let byteCount: Int
}

/// Bounds-checked little-endian reads over the mapped bytes.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var position = 0

    init(bytes: UnsafeRawBufferPointer, file: String) { self.bytes = bytes; self.file = file }

    var remaining: Int { bytes.count - position }

    mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else {
            throw GGUFError.truncated(file: file, reading: what(), offset: position, fileSize: bytes.count)
        }
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
    }

    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 {
        UInt32(littleEndian: try take(4, what()).loadUnaligned(as: UInt32.self))
    }

    mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 {
        UInt64(littleEndian: try take(8, what()).loadUnaligned(as: UInt64.self))
    }

    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let n = try u64(what())
        guard n <= UInt64(remaining) else {
            throw GGUFError.truncated(file: file, reading: "\(what()) (\(n) bytes)", offset: position, fileSize: bytes.count)
        }
        return String(decoding: try take(Int(n), what()), as: UTF8.self)
    }

    /// Steps over a string without decoding it (token lists are validated, not converted, at open).
    mutating func skipString(_ what: @autoclosure () -> String) throws {
        let n = try u64(what())
        guard n <= UInt64(remaining) else {
            throw GGUFError.truncated(file: file, reading: "\(what()) (\(n) bytes)", offset: position, fileSize: bytes.count)
        }
        position += Int(n)
    }

    mutating func scalar(_ type: GGUFValueType, key: String) throws -> GGUFValue {
        let what = "value of \(quoted(key))"
        switch type {
        case .uint8: return .uint(UInt64(try take(1, what).load(as: UInt8.self)), type)
        case .int8: return .int(Int64(try take(1, what).load(as: Int8.self)), type)
        case .uint16: return .uint(UInt64(UInt16(littleEndian: try take(2, what).loadUnaligned(as: UInt16.self))), type)
        case .int16: return .int(Int64(Int16(littleEndian: try take(2, what).loadUnaligned(as: Int16.self))), type)
        case .uint32: return .uint(UInt64(try u32(what)), type)
        case .int32: return .int(Int64(Int32(bitPattern: try u32(what))), type)
        case .uint64: return .uint(try u64(what), type)
        case .int64: return .int(Int64(bitPattern: try u64(what)), type)
        case .float32: return .float(Double(Float(bitPattern: try u32(what))), type)
        case .float64: return .float(Double(bitPattern: try u64(what)), type)
        case .bool:
            let b = try take(1, what).load(as: UInt8.self)
            guard b <= 1 else { throw GGUFError.invalidValue(file: file, key: key, reason: "bool byte \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case .string: return .string(try string(what))
        case .array: throw GGUFError.invalidValue(file: file, key: key, reason: "arrays of arrays are not supported")
        }
    }
}

public final class GGUFFile: @unchecked Sendable {
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let defaultAlignment = 32
    /// ggml's limits: at most 4 dimensions, names shorter than 64 bytes.
    public static let maxDimensions = 4
    public static let maxNameBytes = 63

    public let path: String
    public let version: UInt32
    public let alignment: Int
    /// Key–value pairs in file order, and by key.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let dataOffset: Int
    private let index: [String: Int]
    private let bytes: UnsafeRawBufferPointer
    private let owner: AnyObject?

    public convenience init(path: String) throws {
        let file = try MappedFile(path: path)
        try self.init(bytes: file.bytes, name: path, owner: file)
    }

    /// See `MappedFile.mapCachedPagesInBackground` (nothing for bytes that are not a mapped file).
    public func mapCachedPagesInBackground() { (owner as? MappedFile)?.mapCachedPagesInBackground() }

    /// Parses bytes that stay alive as long as `owner` (or the caller, when owner is nil).
    public init(bytes: UnsafeRawBufferPointer, name: String, owner: AnyObject? = nil) throws {
        path = name
        self.bytes = bytes
        self.owner = owner
        let size = bytes.count
        var c = GGUFCursor(bytes: bytes, file: name)
        let magic = Array(try c.take(4, "magic"))
        guard magic == Self.magic else {
            throw GGUFError.badMagic(file: name, found: "\"" + magic.map { (32...126).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String(format: "%02X", $0) }.joined() + "\"")
        }
        version = try c.u32("version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(file: name, version: version) }
        let tensorCount = try c.u64("tensor count"), kvCount = try c.u64("key-value count")
        // Each entry needs at least its fixed-size fields, so the counts are bounded by the bytes left.
        let kvLimit = c.remaining / 13, tensorLimit = c.remaining / 24
        guard kvCount <= UInt64(kvLimit) else { throw GGUFError.absurdCount(file: name, what: "key-value count", count: kvCount, limit: kvLimit) }
        guard tensorCount <= UInt64(tensorLimit) else { throw GGUFError.absurdCount(file: name, what: "tensor count", count: tensorCount, limit: tensorLimit) }

        var keys: [String] = [], metadata: [String: GGUFValue] = [:]
        for i in 0..<Int(kvCount) {
            let key = try c.string("key \(i)")
            let rawType = try c.u32("type of \(quoted(key))")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError.invalidValue(file: name, key: key, reason: "unknown value type \(rawType)")
            }
            let value: GGUFValue
            if type == .array {
                let et = try c.u32("array type of \(quoted(key))")
                guard let elementType = GGUFValueType(rawValue: et), elementType != .array else {
                    throw GGUFError.invalidValue(file: name, key: key, reason: et == GGUFValueType.array.rawValue ? "arrays of arrays are not supported" : "unknown array element type \(et)")
                }
                let n = try c.u64("array length of \(quoted(key))")
                let limit = c.remaining / elementType.minSize
                guard n <= UInt64(limit) else { throw GGUFError.absurdCount(file: name, what: "length of array \(quoted(key))", count: n, limit: limit) }
                let start = c.position
                if elementType == .string {
                    for j in 0..<Int(n) { try c.skipString("element \(j) of \(quoted(key))") }
                } else {
                    _ = try c.take(Int(n) * elementType.minSize, "elements of \(quoted(key))")
                }
                if elementType == .bool {
                    for b in bytes[start..<c.position] where b > 1 {
                        throw GGUFError.invalidValue(file: name, key: key, reason: "bool byte \(b) is neither 0 nor 1")
                    }
                }
                value = .array(GGUFArray(mapped: UnsafeRawBufferPointer(rebasing: bytes[start..<c.position]),
                                         elementType: elementType, count: Int(n), owner: owner))
            } else {
                value = try c.scalar(type, key: key)
            }
            guard metadata.updateValue(value, forKey: key) == nil else { throw GGUFError.duplicateKey(file: name, key: key) }
            keys.append(key)
        }
        self.keys = keys
        self.metadata = metadata

        var align = Self.defaultAlignment
        if let a = metadata["general.alignment"] {
            guard case let .uint(v, .uint32) = a, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw GGUFError.invalidValue(file: name, key: "general.alignment", reason: "must be a uint32 power of two, got \(a)")
            }
            align = Int(v)
        }
        alignment = align

        struct Raw { let name: String; let dtype: DType; let shape: [Int]; let offset: UInt64; let byteCount: Int }
        var raws: [Raw] = []
        var seen = Set<String>()
        for i in 0..<Int(tensorCount) {
            let tname = try c.string("name of tensor \(i)")
            guard tname.utf8.count <= Self.maxNameBytes else {
                throw GGUFError.invalidTensor(file: name, tensor: tname, reason: "name is longer than \(Self.maxNameBytes) bytes")
            }
            guard seen.insert(tname).inserted else { throw GGUFError.duplicateTensor(file: name, tensor: tname) }
            let nDims = try c.u32("dimension count of \(quoted(tname))")
            guard nDims >= 1 && nDims <= UInt32(Self.maxDimensions) else {
                throw GGUFError.tooManyDimensions(file: name, tensor: tname, dimensions: Int(nDims))
            }
            var ne: [Int] = []
            var elements = 1
            for _ in 0..<Int(nDims) {
                let d = try c.u64("dimensions of \(quoted(tname))")
                guard d <= UInt64(Int32.max) * 64 else {
                    throw GGUFError.invalidTensor(file: name, tensor: tname, reason: "dimension \(d) is too large")
                }
                let (p, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow, p <= 1 << 48 else { throw GGUFError.invalidTensor(file: name, tensor: tname, reason: "element count overflows") }
                elements = p
                ne.append(Int(d))
            }
            let rawType = try c.u32("type of \(quoted(tname))")
            guard let dtype = DType(ggmlType: Int(rawType)) else { throw GGUFError.unknownType(file: name, tensor: tname, type: rawType) }
            let offset = try c.u64("offset of \(quoted(tname))")
            let shape = Array(ne.reversed())
            guard let nbytes = dtype.byteCount(shape: shape) else {
                throw GGUFError.invalidTensor(file: name, tensor: tname,
                    reason: "rows of \(ne[0]) values are not whole \(dtype.rawValue) blocks of \(dtype.blockElements)")
            }
            guard offset % UInt64(align) == 0 else {
                throw GGUFError.misalignedOffset(file: name, tensor: tname, offset: offset, alignment: align)
            }
            raws.append(Raw(name: tname, dtype: dtype, shape: shape, offset: offset, byteCount: nbytes))
        }
        let dataStart = (c.position + align - 1) / align * align
        guard dataStart <= size else {
            throw GGUFError.truncated(file: name, reading: "padding before the tensor data", offset: c.position, fileSize: size)
        }
        dataOffset = dataStart
        let dataSize = size - dataStart
        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for r in raws {
            let (end, overflow) = r.offset.addingReportingOverflow(UInt64(r.byteCount))
            guard !overflow, end <= UInt64(dataSize) else {
                throw GGUFError.dataPastEnd(file: name, tensor: r.name, end: overflow ? .max : end, dataSize: dataSize)
            }
            index[r.name] = infos.count
            infos.append(GGUFTensorInfo(name: r.name, dtype: r.dtype, shape: r.shape, offset: Int(r.offset), byteCount: r.byteCount))
        }
        tensors = infos
        self.index = index
    }

    /// Owns a copy of `data` (for tests and fuzzing).
    public convenience init(data: Data, name: String) throws {
        let box = ByteBox(data)
        try self.init(bytes: UnsafeRawBufferPointer(rebasing: box.buffer[0..<data.count]), name: name, owner: box)
    }

    public var fileSize: Int { bytes.count }

    public func info(_ name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// A zero-copy view of the tensor's bytes in the map.
    public func view(_ name: String) throws -> TensorView {
        guard let i = index[name] else { throw GGUFError.missingTensor(file: path, tensor: name) }
        let t = tensors[i]
        let start = dataOffset + t.offset
        let raw = t.byteCount == 0 ? UnsafeRawBufferPointer(start: nil, count: 0)
                                   : UnsafeRawBufferPointer(rebasing: bytes[start..<(start + t.byteCount)])
        return TensorView(name: name, dtype: t.dtype, shape: t.shape, bytes: raw, owner: owner ?? self)
    }

    // MARK: - Typed metadata

    public func value(_ key: String) -> GGUFValue? { metadata[key] }

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw GGUFError.missingKey(file: path, key: key) }
        guard case let .string(s) = v else { throw GGUFError.wrongKeyType(file: path, key: key, expected: "string", found: v.typeName) }
        return s
    }

    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw GGUFError.missingKey(file: path, key: key) }
        guard let i = v.intValue else { throw GGUFError.wrongKeyType(file: path, key: key, expected: "integer", found: v.typeName) }
        return i
    }

    public func float(_ key: String) throws -> Float {
        guard let v = metadata[key] else { throw GGUFError.missingKey(file: path, key: key) }
        switch v {
        case let .float(d, _): return Float(d)
        default:
            if let i = v.intValue { return Float(i) }
            throw GGUFError.wrongKeyType(file: path, key: key, expected: "number", found: v.typeName)
        }
    }

    public func bool(_ key: String) throws -> Bool {
        guard let v = metadata[key] else { throw GGUFError.missingKey(file: path, key: key) }
        guard case let .bool(b) = v else { throw GGUFError.wrongKeyType(file: path, key: key, expected: "bool", found: v.typeName) }
        return b
    }

    public func array(_ key: String) throws -> GGUFArray {
        guard let v = metadata[key] else { throw GGUFError.missingKey(file: path, key: key) }
        guard case let .array(a) = v else { throw GGUFError.wrongKeyType(file: path, key: key, expected: "array", found: v.typeName) }
        return a
    }
}

/// Owned bytes for `GGUFFile(data:name:)`.
final class ByteBox {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ data: Data) {
        buffer = .allocate(byteCount: max(1, data.count), alignment: 64)
        data.copyBytes(to: buffer)
        if data.isEmpty { buffer.storeBytes(of: 0, as: UInt8.self) }
    }
    deinit { buffer.deallocate() }
}
