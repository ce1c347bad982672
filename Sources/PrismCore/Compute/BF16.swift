// How bf16 operands are stored for oneDNN. `.bf16` is the real thing (AVX-512-BF16 / AMX kernels). `.roundedF32`
// runs the very same oneDNN code paths (packing, tiles, primitives) on f32 kernels with every operand rounded to a
// bf16 value: the numerics of the bf16 path on any CPU, which is how the tests check that code where the CPU has no
// bf16 (oneDNN's bf16 kernels themselves are checked against it where it has).
import CDNNL
import CPrismKernels

enum BF16Storage: Sendable {
    case bf16, roundedF32

    /// What bf16 precision uses on this CPU: oneDNN's bf16 kernels, or nil (the emulation on the f32 GEMM).
    static var native: BF16Storage? { OneDNN.hasNativeBF16 ? .bf16 : nil }

    var type: dnnl_data_type_t { self == .bf16 ? dnnl_bf16 : dnnl_f32 }
    var size: Int { self == .bf16 ? 2 : 4 }

    /// Writes `count` values in this storage (bf16 bits, or f32 rounded to bf16 values).
    func store(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
        switch self {
        case .bf16: Convert.f32ToBF16(src, dst.assumingMemoryBound(to: UInt16.self), count: count)
        case .roundedF32: Convert.roundToBF16(src, dst.assumingMemoryBound(to: Float.self), count: count)
        }
    }

    /// A fresh buffer (the caller deallocates) with `count` values stored, over the cores when large.
    func copy(_ x: UnsafePointer<Float>, count: Int) -> UnsafeMutableRawPointer {
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * size, alignment: 64)
        Parallel.forEach(count, minChunk: 1 << 16) { r in store(x + r.lowerBound, out + r.lowerBound * size, count: r.count) }
        return out
    }

    /// rows × cols of a row-major matrix with leading dimension `ld` (or of its transpose), dense in this storage.
    func dense(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, transposed: Bool) -> UnsafeMutableRawPointer {
        if !transposed && ld == cols { return copy(x, count: rows * cols) }
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * cols) * size, alignment: 64)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, cols))
        defer { row.deallocate() }
        for i in 0..<rows {
            if transposed {
                for j in 0..<cols { row[j] = x[j * ld + i] }   // element (i, j) of the result is x[j, i]
                store(row, out + i * cols * size, count: cols)
            } else {
                store(x + i * ld, out + i * cols * size, count: cols)
            }
        }
        return out
    }
}

/// f32 data rounded to bf16 values (the emulation's operands), fresh buffers the caller deallocates.
enum BF16 {
    /// x rounded to bf16 values, kept as f32.
    static func rounded(_ x: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
        Parallel.forEach(count, minChunk: 1 << 16) { r in
            Convert.roundToBF16(x + r.lowerBound, out + r.lowerBound, count: r.count)
        }
        return out
    }

    /// rows × cols with leading dimension `ld`, rounded to bf16 values, dense f32.
    static func roundedDense(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int) -> UnsafeMutablePointer<Float> {
        if ld == cols { return rounded(x, count: rows * cols) }
        let out = UnsafeMutablePointer<Float>.allocate(capacity: max(1, rows * cols))
        for i in 0..<rows { Convert.roundToBF16(x + i * ld, out + i * cols, count: cols) }
        return out
    }
}
