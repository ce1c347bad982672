import Foundation
import PrismCore

/// Writes safetensors files. Tensor bytes are produced one tensor at a time by a callback and
/// streamed to disk, so even a full-size random checkpoint never has to fit in memory.
public enum SafetensorsWriter {
    public struct Spec: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public init(_ name: String, _ dtype: DType, _ shape: [Int]) {
            self.name = name; self.dtype = dtype; self.shape = shape
        }
        public var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    /// Header JSON for `specs` in order, space-padded so the data section starts 8-byte aligned.
    static func header(_ specs: [Spec], metadata: [String: String]) throws -> Data {
        var parts: [String] = []
        if !metadata.isEmpty {
            let m = try JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys])
            parts.append("\"__metadata__\":" + String(decoding: m, as: UTF8.self))
        }
        var offset = 0
        var seen = Set<String>()
        for s in specs {
            precondition(seen.insert(s.name).inserted, "SafetensorsWriter: duplicate tensor \(s.name)")
            let name = String(decoding: try JSONSerialization.data(withJSONObject: s.name, options: [.fragmentsAllowed]),
                              as: UTF8.self)
            let shape = s.shape.map(String.init).joined(separator: ",")
            parts.append("\(name):{\"dtype\":\"\(s.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + s.byteCount)]}")
            offset += s.byteCount
        }
        var json = Data(("{" + parts.joined(separator: ",") + "}").utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        return json
    }

    /// Streams `specs` to `url` (atomically: temporary name, then rename). `fill(i, buffer)` writes
    /// tensor i's little-endian bytes into a buffer of exactly `specs[i].byteCount` bytes.
    public static func write(to url: URL, specs: [Spec], metadata: [String: String] = [:],
                             fill: (Int, UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let json = try header(specs, metadata: metadata)
        let file = try AtomicFileWriter(url)
        var n = UInt64(json.count).littleEndian
        try withUnsafeBytes(of: &n) { try file.write($0) }
        try file.write(json)
        for (i, s) in specs.enumerated() where s.byteCount > 0 {
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: s.byteCount, alignment: 64)
            defer { buf.deallocate() }
            try fill(i, buf)
            try file.write(UnsafeRawBufferPointer(buf))
        }
        try file.commit()
    }

    /// Writes in-memory Float tensors, stored as `dtype` (F32, F16 or BF16; rounding to nearest even).
    public static func write(to url: URL, tensors: [(name: String, tensor: Tensor)], dtype: DType = .f32,
                             metadata: [String: String] = [:]) throws {
        precondition([.f32, .f16, .bf16].contains(dtype), "SafetensorsWriter: cannot store Float tensors as \(dtype)")
        let specs = tensors.map { Spec($0.name, dtype, $0.tensor.shape) }
        try write(to: url, specs: specs, metadata: metadata) { i, buf in
            tensors[i].tensor.data.withUnsafeBufferPointer { src in
                let n = src.count
                switch dtype {
                case .bf16: Convert.f32ToBF16(src.baseAddress!, buf.baseAddress!.assumingMemoryBound(to: UInt16.self), count: n)
                case .f16: Convert.f32ToF16(src.baseAddress!, buf.baseAddress!.assumingMemoryBound(to: UInt16.self), count: n)
                default: buf.copyMemory(from: UnsafeRawBufferPointer(src))
                }
            }
        }
    }
}
