// Pre-packed bf16 weights. On a CPU with native bf16 GEMMs a weight W[out, in] used in bf16 precision is
// converted to bf16 once (straight from its f32 or bf16 storage, by a oneDNN reorder: no f32 copy is made) and
// laid out in the blocked format oneDNN's kernel asked for (AMX / AVX-512-BF16 tiles), so no call repacks it.
// The pack lives in the weight's view (`TensorView.packs`) and is freed with it; `PackBudget` caps the total so a
// checkpoint larger than RAM never gets a second resident copy: past the budget, bf16 weights are used in place
// (oneDNN's plain layout) and f32 weights are converted block by block per call.
import CDNNL
import Foundation

final class PackedWeight: @unchecked Sendable {
    private let lock = NSLock()
    private var packed: (desc: MatrixDesc, buffer: UnsafeMutableRawPointer, bytes: Int)?
    /// Set when packing was refused (budget) or impossible (no bf16 matmul here): the plain path is used.
    private var refused = false
    /// Primitives using the packed layout, by input rows M (prefill, decode and vision calls differ in M).
    private var primitives: [Int: MatmulPrimitive] = [:]

    deinit {
        if let p = packed {
            p.buffer.deallocate()
            PackBudget.release(p.bytes)
        }
    }

    /// Bytes held by the pack (0 when not packed).
    var packedBytes: Int { lock.withLock { packed?.bytes ?? 0 } }

    /// A bf16 matmul for x[m, in] (bf16) · Wᵀ → [m, out] (f32) over the packed weight, packing it on first use;
    /// nil when the weight is not packed (budget, or oneDNN cannot use the pack at this M): use the plain path.
    func bf16Matmul(m: Int, weight w: TensorView) -> (primitive: MatmulPrimitive, weights: UnsafeRawPointer)? {
        lock.lock(); defer { lock.unlock() }
        let n = w.shape[0], k = w.shape[1]
        if let p = packed, let prim = primitives[m] { return (prim, UnsafeRawPointer(p.buffer)) }
        let src = MatrixDesc(rows: m, cols: k, type: dnnl_bf16, rowStride: k)
        let dst = MatrixDesc(rows: m, cols: n, type: dnnl_f32, rowStride: n)
        if let p = packed {
            // The layout was chosen for another M; oneDNN's blocked kernels take it for any M (or refuse here).
            guard let prim = MatmulPrimitive(src: src, weights: p.desc, dst: dst) else { return nil }
            if primitives.count >= 8 { primitives.removeAll() }
            primitives[m] = prim
            return (prim, UnsafeRawPointer(p.buffer))
        }
        if refused { return nil }
        guard let prim = MatmulPrimitive(src: src, weights: MatrixDesc(anyRows: k, cols: n, type: dnnl_bf16), dst: dst) else {
            refused = true
            return nil
        }
        let bytes = prim.weights.byteCount
        guard PackBudget.reserve(bytes) else {
            refused = true
            return nil
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
        pack(w, into: prim.weights, buffer)
        packed = (prim.weights, buffer, bytes)
        primitives[m] = prim
        return (prim, UnsafeRawPointer(buffer))
    }

    /// W[out, in] seen as the matmul's [in, out] operand (its transpose), reordered into `target`.
    private func pack(_ w: TensorView, into target: MatrixDesc, _ buffer: UnsafeMutableRawPointer) {
        let n = w.shape[0], k = w.shape[1]
        switch w.dtype {
        case .bf16, .f32:
            let source = MatrixDesc(rows: k, cols: n, type: w.dtype == .bf16 ? dnnl_bf16 : dnnl_f32, rowStride: k, transposed: true)
            OneDNNReorder.run(source, w.bytes.baseAddress!, target, buffer)
        default:
            // f16 and others: through a transient f32 copy of this one weight
            w.withFloatPointer { p in
                OneDNNReorder.run(MatrixDesc(rows: k, cols: n, type: dnnl_f32, rowStride: k, transposed: true), p, target, buffer)
            }
        }
    }
}

/// The process-wide cap on pre-packed weight bytes (RAM is one per process): `PRISM_PACK_LIMIT_MB`, or half of
/// the physical memory.
enum PackBudget {
    private static let lock = NSLock()
    private static var used = 0
    /// Settable for tests (a smaller budget exercises the unpacked paths).
    nonisolated(unsafe) static var limit: Int = {
        if let s = ProcessInfo.processInfo.environment["PRISM_PACK_LIMIT_MB"], let mb = Int(s), mb >= 0 { return mb << 20 }
        return Int(ProcessInfo.processInfo.physicalMemory / 2)
    }()

    static func reserve(_ bytes: Int) -> Bool {
        lock.withLock {
            guard used + bytes <= limit else { return false }
            used += bytes
            return true
        }
    }

    static func release(_ bytes: Int) { lock.withLock { used -= bytes } }

    /// Bytes currently held by packs (for reports and tests).
    static var inUse: Int { lock.withLock { used } }
}
