import Foundation
import PrismCore

/// Everything that can be wrong with a safetensors file, each naming the file (and tensor).
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case tooShort(file: String, size: Int)
    case headerTooLarge(file: String, length: UInt64, limit: Int)
    case headerBeyondFile(file: String, length: UInt64, fileSize: Int)
    case invalidHeader(file: String, reason: String)
    case invalidEntry(file: String, tensor: String, reason: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case offsetsOutOfBounds(file: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case sizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, expected: Int, actual: Int)
    case overlap(file: String, tensor: String, other: String)
    case gap(file: String, before: String, at: Int)
    case trailingBytes(file: String, dataEnd: Int, dataSize: Int)
    case missingTensor(name: String, source: String)

    public var description: String {
        switch self {
        case let .tooShort(f, s): "\(f): not a safetensors file: \(s) bytes, need at least 8"
        case let .headerTooLarge(f, n, l): "\(f): header length \(n) exceeds the \(l)-byte limit"
        case let .headerBeyondFile(f, n, s): "\(f): header length \(n) runs past the end of the \(s)-byte file (truncated?)"
        case let .invalidHeader(f, r): "\(f): invalid header: \(r)"
        case let .invalidEntry(f, t, r): "\(f): tensor \(quoted(t)): \(r)"
        case let .unsupportedDType(f, t, d): "\(f): tensor \(quoted(t)): unsupported dtype \(d)"
        case let .offsetsOutOfBounds(f, t, b, e, s):
            "\(f): tensor \(quoted(t)): data_offsets [\(b), \(e)] outside the \(s)-byte data section (truncated file?)"
        case let .sizeMismatch(f, t, shape, d, e, a):
            "\(f): tensor \(quoted(t)): shape \(shape) × \(d) needs \(e) bytes but data_offsets span \(a)"
        case let .overlap(f, t, o): "\(f): tensor \(quoted(t)) overlaps tensor \(quoted(o))"
        case let .gap(f, b, at): "\(f): unclaimed bytes at data offset \(at) before tensor \(quoted(b))"
        case let .trailingBytes(f, e, s): "\(f): tensors end at data offset \(e) but the data section has \(s) bytes"
        case let .missingTensor(n, s): "\(s): no tensor named \(quoted(n))"
        }
    }
}

/// One memory-mapped safetensors file: header parsed and validated up front, tensors served as views.
public final class SafetensorsFile: @unchecked Sendable {
    /// Same bound as the reference implementation: a header over 100 MB is treated as corrupt.
    public static let maxHeaderBytes = 100_000_000

    public struct Entry: Sendable {
        public let dtype: DType
        public let shape: [Int]
        public let range: Range<Int>   // byte range inside the data section
    }

    public let path: String
    public let metadata: [String: String]
    public let entries: [String: Entry]
    private let file: MappedFile
    private let dataStart: Int

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        path = file.path
        let size = file.count
        guard size >= 8 else { throw SafetensorsError.tooShort(file: path, size: size) }
        let n = file.bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard n <= UInt64(Self.maxHeaderBytes) else {
            throw SafetensorsError.headerTooLarge(file: path, length: n, limit: Self.maxHeaderBytes)
        }
        guard Int(n) <= size - 8 else { throw SafetensorsError.headerBeyondFile(file: path, length: n, fileSize: size) }
        dataStart = 8 + Int(n)
        let headerData = Data(file.bytes[8..<dataStart])
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw SafetensorsError.invalidHeader(file: path, reason: "JSON does not parse (\((error as NSError).localizedDescription))")
        }
        guard let dict = json as? [String: Any] else {
            throw SafetensorsError.invalidHeader(file: path, reason: "JSON is not an object")
        }
        (metadata, entries) = try Self.parse(dict, file: path, dataSize: size - dataStart)
    }

    private static func parse(_ dict: [String: Any], file: String, dataSize: Int) throws
        -> ([String: String], [String: Entry]) {
        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any], m.values.allSatisfy({ $0 is String }) else {
                    throw SafetensorsError.invalidHeader(file: file, reason: "__metadata__ must map strings to strings")
                }
                metadata = m.mapValues { $0 as! String }
                continue
            }
            guard let e = value as? [String: Any] else {
                throw SafetensorsError.invalidEntry(file: file, tensor: name, reason: "entry is not an object")
            }
            guard let dtypeName = e["dtype"] as? String else {
                throw SafetensorsError.invalidEntry(file: file, tensor: name, reason: "missing dtype")
            }
            guard let dtype = DType(rawValue: dtypeName), !dtype.isBlockQuantized else {
                throw SafetensorsError.unsupportedDType(file: file, tensor: name, dtype: dtypeName)
            }
            guard let shapeAny = e["shape"] as? [Any], let shape = integers(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.invalidEntry(file: file, tensor: name, reason: "shape must be a list of non-negative integers")
            }
            guard let offAny = e["data_offsets"] as? [Any], let off = integers(offAny), off.count == 2 else {
                throw SafetensorsError.invalidEntry(file: file, tensor: name, reason: "data_offsets must be two integers")
            }
            let (begin, end) = (off[0], off[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw SafetensorsError.offsetsOutOfBounds(file: file, tensor: name, begin: begin, end: end, dataSize: dataSize)
            }
            var expected = dtype.byteSize
            for d in shape {
                let (p, overflow) = expected.multipliedReportingOverflow(by: d)
                guard !overflow else { throw SafetensorsError.invalidEntry(file: file, tensor: name, reason: "shape \(shape) overflows") }
                expected = p
            }
            guard expected == end - begin else {
                throw SafetensorsError.sizeMismatch(file: file, tensor: name, shape: shape, dtype: dtypeName,
                                                    expected: expected, actual: end - begin)
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: begin..<end)
        }
        // Tensors must tile the data section exactly: no overlaps, no holes, nothing left over.
        let sorted = entries.sorted { ($0.value.range.lowerBound, $0.value.range.upperBound, $0.key)
                                      < ($1.value.range.lowerBound, $1.value.range.upperBound, $1.key) }
        var cursor = 0
        var previous = ""
        for (name, e) in sorted {
            if e.range.lowerBound < cursor { throw SafetensorsError.overlap(file: file, tensor: name, other: previous) }
            if e.range.lowerBound > cursor { throw SafetensorsError.gap(file: file, before: name, at: cursor) }
            cursor = e.range.upperBound
            if !e.range.isEmpty || previous.isEmpty { previous = name }
        }
        if cursor != dataSize { throw SafetensorsError.trailingBytes(file: file, dataEnd: cursor, dataSize: dataSize) }
        return (metadata, entries)
    }

    private static func integers(_ a: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in a {
            // JSONSerialization yields NSNumber; its objCType tells integers from bools ("c") and floats.
            guard let n = v as? NSNumber, "ilqsICLQS".contains(String(cString: n.objCType)) else { return nil }
            out.append(n.intValue)
        }
        return out
    }

    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// A zero-copy view into the mapped file.
    public func view(_ name: String) throws -> TensorView {
        guard let e = entries[name] else { throw SafetensorsError.missingTensor(name: name, source: path) }
        let start = file.bytes.baseAddress.map { UnsafeRawPointer($0) + dataStart + e.range.lowerBound }
        return TensorView(name: name, dtype: e.dtype, shape: e.shape,
                          bytes: UnsafeRawBufferPointer(start: e.range.isEmpty ? nil : start, count: e.range.count),
                          owner: file)
    }
}
