// Pre-packed bf16 weights. On a CPU with native bf16 GEMMs a weight W[out, in] used in bf16 precision is
// converted to bf16 once (straight from its f32 or bf16 storage, by a oneDNN reorder: no f32 copy is made) and
// laid out in the blocked format oneDNN's kernel asked for (AMX / AVX-512-BF16 tiles), so no call repacks it.
// The pack lives in the weight's view (`TensorView.packs`) and is freed with it; `PackBudget` caps the total so a
// checkpoint larger than RAM never gets a second resident copy: past the budget, bf16 weights are used in place
// (oneDNN's plain layout) and f32 weights are converted block by block per call.
import CDNNL
import Foundation

final class PackedWeight: @unchecked Sendable {
    private struct Pack {
        let desc: MatrixDesc, buffer: UnsafeMutableRawPointer, bytes: Int
        /// Primitives using the packed layout, by input rows M (prefill, decode and vision calls differ in M).
        var primitives: [Int: MatmulPrimitive] = [:]
    }
    private let lock = NSLock()
    private var packs: [BF16Storage: Pack] = [:]
    /// Storages for which packing was refused (budget) or impossible: the plain path is used.
    private var refused: Set<BF16Storage> = []

    deinit {
        for p in packs.values {
            p.buffer.deallocate()
            PackBudget.release(p.bytes)
        }
    }

    /// Bytes held by packs (0 when not packed).
    var packedBytes: Int { lock.withLock { packs.values.reduce(0) { $0 + $1.bytes } } }

    /// A matmul for x[m, in] · Wᵀ → [m, out] (f32) over the weight packed in `storage`, packing it on first use;
    /// nil when the weight is not packed (budget, or oneDNN cannot use the pack at this M): use the plain path.
    func bf16Matmul(m: Int, weight w: TensorView, storage: BF16Storage) -> (primitive: MatmulPrimitive, weights: UnsafeRawPointer)? {
        lock.lock(); defer { lock.unlock() }
        let n = w.shape[0], k = w.shape[1]
        if let p = packs[storage], let prim = p.primitives[m] { return (prim, UnsafeRawPointer(p.buffer)) }
        let src = MatrixDesc(rows: m, cols: k, type: storage.type, rowStride: k)
        let dst = MatrixDesc(rows: m, cols: n, type: dnnl_f32, rowStride: n)
        if var p = packs[storage] {
            // The layout was chosen for another M; oneDNN's blocked kernels take it for any M (or refuse here).
            guard let prim = MatmulPrimitive(src: src, weights: p.desc, dst: dst) else { return nil }
            if p.primitives.count >= 8 { p.primitives.removeAll() }
            p.primitives[m] = prim
            packs[storage] = p
            return (prim, UnsafeRawPointer(p.buffer))
        }
        if refused.contains(storage) { return nil }
        guard let prim = MatmulPrimitive(src: src, weights: MatrixDesc(anyRows: k, cols: n, type: storage.type), dst: dst),
              PackBudget.reserve(prim.weights.byteCount) else {
            refused.insert(storage)
            return nil
        }
        let bytes = prim.weights.byteCount
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
        pack(w, into: prim.weights, buffer, storage)
        packs[storage] = Pack(desc: prim.weights, buffer: buffer, bytes: bytes, primitives: [m: prim])
        return (prim, UnsafeRawPointer(buffer))
    }

    /// W[out, in] seen as the matmul's [in, out] operand (its transpose), reordered into `target`.
    private func pack(_ w: TensorView, into target: MatrixDesc, _ buffer: UnsafeMutableRawPointer, _ storage: BF16Storage) {
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
        if storage == .roundedF32 && w.dtype != .bf16 {
            // rounding is elementwise, so the blocked layout (and its zero padding) does not matter
            let values = buffer.assumingMemoryBound(to: Float.self)
            Convert.roundToBF16(values, values, count: target.byteCount / 4)
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
