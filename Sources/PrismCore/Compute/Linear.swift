// The one matrix-product seam for weights: `linear(x, W)` dispatches on the weight's storage (f32, bf16,
// f16, and the block-quantised types as they arrive) and, for dense weights, on the compute precision.
// Model files call only this; no model file tests CPU flags or dtypes.
import CDNNL
import CPrismKernels

/// Up to this many input rows, 16-bit weights use the fused widen+FMA kernel instead of widen-then-sgemm.
let smallBatchRows = 32

/// Multiply-adds a piece of work needs before it is worth a pool hand-off (about a microsecond).
let productsPerHandOff = 1 << 14

/// Rows of a weight widened per block, so bf16/f16 weights never exist as a full Float32 copy.
let widenBlockElements = 1 << 20

/// y = x · Wᵀ + b for a PyTorch-layout weight W[out, in]. x: [..., in] → [..., out].
/// The weight keeps its storage; the kernel is chosen here from it.
public func linear(_ x: Tensor, _ w: TensorView, bias: TensorView? = nil) -> Tensor {
    precondition(w.shape.count == 2 && w.shape[1] == x.lastDim,
                 "linear \(w.name): input \(x.shape) does not match weight \(w.shape)")
    var y = w.dtype.isBlockQuantized ? quantizedLinear(x, w) : denseLinear(x, w)
    if let bias {
        precondition(bias.count == w.shape[0], "linear \(bias.name): bias \(bias.shape) for \(w.shape[0]) outputs")
        y.addInPlace(bias.toTensor())
    }
    return y
}

/// Float weights at the weight's precision. f32: f32 weights read in place, bf16/f16 widened inside the kernel
/// or block by block into scratch. bf16: oneDNN's bf16 kernel over the pre-packed weight (`PackedWeight`), or the
/// emulation where the CPU has no native bf16.
func denseLinear(_ x: Tensor, _ w: TensorView) -> Tensor {
    let outF = w.shape[0], inF = w.shape[1], m = x.rows
    var outShape = x.shape; outShape[outShape.count - 1] = outF
    return Tensor(shape: outShape, unsafeUninitialized: { out in
        guard m > 0, outF > 0 else { return }
        guard inF > 0 else { out.update(repeating: 0); return }
        x.data.withUnsafeBufferPointer { px in
            let a = px.baseAddress!, y = out.baseAddress!
            if m <= smallBatchRows && (w.dtype == .bf16 || w.dtype == .f16) {
                // Decode-shaped: widen inside the dot products and split rows over cores. bf16 weights at bf16
                // precision get inputs rounded to bf16 (native bf16 dot products where the CPU has them), as the
                // GEMM path rounds them; otherwise f32 arithmetic on the stored 16-bit weights.
                let input = W16Input(a, rows: m, cols: inF, for: w)
                defer { input.deallocate() }
                // pieces of whole 4-row blocks (the kernel's), a few per core so that a core slowed by other work
                // does not hold the step, each at least `productsPerHandOff`
                let blocks = (outF + 3) / 4, rows = w.weightRows
                Parallel.forEach(blocks, pieces: 4 * Parallel.threads, minChunk: max(1, productsPerHandOff / max(1, 4 * m * inF))) { b in
                    input.product(rows, rows: 4 * b.lowerBound..<min(outF, 4 * b.upperBound), into: y, ldy: outF)
                }
                return
            }
            switch w.precision {
            case .f32: floatLinear(a, m, w, y)
            case .bf16:
                if let storage = BF16Storage.native { oneDNNBF16Linear(a, m, w, y, storage) } else { emulatedBF16Linear(a, m, w, y) }
            }
        }
    })
}

/// Decode-sized input rows for the fused 16-bit kernel, in the form it reads them for this weight type and
/// precision: prepared once per product, before its rows are split over the cores (an owned copy where the kernel
/// reads them as they are).
struct W16Input {
    let rows: Int, cols: Int, kind: Int32
    private let x: UnsafeMutablePointer<Float>

    /// The kernel's input kind for a bf16/f16 weight: f16, bf16, or bf16 at bf16 precision (inputs rounded).
    static func kind(for w: TensorView) -> Int32 {
        Int32(w.dtype == .f16 ? PRISM_W16_F16 : w.precision == .bf16 ? PRISM_W16_BF16_PRECISION : PRISM_W16_BF16)
    }

    init(_ input: UnsafePointer<Float>, rows: Int, cols: Int, for w: TensorView) {
        self.rows = rows; self.cols = cols
        kind = Self.kind(for: w)
        x = .allocate(capacity: max(1, rows * cols))
        if prism_gemm_w16_prepare(input, rows, cols, kind, x) == 0 { x.update(from: input, count: rows * cols) }
    }

    /// y[i, r] for weight rows `range` of w (y has `ldy` columns).
    func product(_ w: WeightRows, rows range: Range<Int>, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        prism_gemm_w16(x, rows, w.base.assumingMemoryBound(to: UInt16.self), kind, cols, range.lowerBound, range.upperBound, y, ldy)
    }

    func deallocate() { x.deallocate() }
}

/// f32: one sgemm on f32 weights in place; 16-bit weights widened a block of rows at a time.
private func floatLinear(_ x: UnsafePointer<Float>, _ m: Int, _ w: TensorView, _ y: UnsafeMutablePointer<Float>) {
    let outF = w.shape[0], inF = w.shape[1]
    if w.dtype == .f32 && m <= 2 {
        // a decoding token against f32 rows (the MoE router): a GEMV streamed over the cores; sgemm packed the
        // operands and read the router's 0.5 MB at a quarter of the memory rate (Q4_K_M, whole model, 2 cores)
        let base = w.bytes.baseAddress!.assumingMemoryBound(to: Float.self)
        Parallel.forEach(outF, pieces: 2 * Parallel.threads, minChunk: max(8, productsPerHandOff / max(1, m * inF))) { r in
            for i in 0..<m { prism_dot_rows(x + i * inF, inF, base + r.lowerBound * inF, inF, r.count, y + i * outF + r.lowerBound) }
        }
        return
    }
    if w.dtype == .f32 {
        BLAS.sgemm(transB: true, m: m, n: outF, k: inF, a: x, lda: inF,
                   b: w.bytes.baseAddress!.assumingMemoryBound(to: Float.self), ldb: inF, c: y, ldc: outF)
        return
    }
    forEachWidenedBlock(w) { r0, r, block in
        BLAS.sgemm(transB: true, m: m, n: r, k: inF, a: x, lda: inF, b: block, ldb: inF, c: y + r0, ldc: outF)
    }
}

/// Calls `body(firstRow, rows, values)` for consecutive row blocks of W widened to f32 in one reused scratch.
private func forEachWidenedBlock(_ w: TensorView, _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void) {
    let outF = w.shape[0], inF = w.shape[1]
    let blockRows = max(1, min(outF, widenBlockElements / max(1, inF)))
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * inF)
    defer { scratch.deallocate() }
    var r0 = 0
    while r0 < outF {
        let r = min(blockRows, outF - r0)
        w.widen(from: r0 * inF, count: r * inF, into: scratch)
        body(r0, r, scratch)
        r0 += r
    }
}

/// bf16 on oneDNN: activations converted per call, the weight pre-packed once; where it is not packed (budget),
/// bf16 weights are read in place and others converted a block of rows at a time. `storage` is `.bf16` on CPUs with
/// native kernels; tests run the same path with `.roundedF32`.
func oneDNNBF16Linear(_ x: UnsafePointer<Float>, _ m: Int, _ w: TensorView, _ y: UnsafeMutablePointer<Float>, _ storage: BF16Storage) {
    let n = w.shape[0], k = w.shape[1]
    let xb = storage.copy(x, count: m * k)
    defer { xb.deallocate() }
    if let (primitive, packed) = w.packs.bf16Matmul(m: m, weight: w, storage: storage) {
        primitive.execute(src: xb, weights: packed, dst: y)
        return
    }
    let src = MatrixDesc(rows: m, cols: k, type: storage.type, rowStride: k)
    if w.dtype == .bf16 && storage == .bf16, let primitive = MatmulPrimitive(
        src: src, weights: MatrixDesc(rows: k, cols: n, type: dnnl_bf16, rowStride: k, transposed: true),
        dst: MatrixDesc(rows: m, cols: n, type: dnnl_f32, rowStride: n)) {
        primitive.execute(src: xb, weights: w.bytes.baseAddress!, dst: y)
        return
    }
    let blockRows = max(1, min(n, widenBlockElements / max(1, k)))
    let wb = UnsafeMutableRawPointer.allocate(byteCount: blockRows * k * storage.size, alignment: 64)
    let yb = UnsafeMutablePointer<Float>.allocate(capacity: m * blockRows)
    defer { wb.deallocate(); yb.deallocate() }
    forEachWidenedBlock(w) { r0, r, block in
        storage.store(block, wb, count: r * k)
        guard let primitive = MatmulPrimitive(src: src, weights: MatrixDesc(rows: k, cols: r, type: storage.type, rowStride: k, transposed: true),
                                              dst: MatrixDesc(rows: m, cols: r, type: dnnl_f32, rowStride: r)) else {
            preconditionFailure("oneDNN: no \(storage) matmul for [\(m)×\(k)]·[\(k)×\(r)]")
        }
        primitive.execute(src: xb, weights: wb, dst: yb)
        for i in 0..<m { (y + i * n + r0).update(from: yb + i * r, count: r) }
    }
}

/// The bf16 numerics on f32 kernels (CPUs without native bf16, and tests): activations and weights rounded to
/// bf16, products accumulated in f32.
private func emulatedBF16Linear(_ x: UnsafePointer<Float>, _ m: Int, _ w: TensorView, _ y: UnsafeMutablePointer<Float>) {
    let n = w.shape[0], k = w.shape[1]
    let xr = BF16.rounded(x, count: m * k)
    defer { xr.deallocate() }
    forEachWidenedBlock(w) { r0, r, block in
        if w.dtype != .bf16 { Convert.roundToBF16(block, block, count: r * k) }   // bf16 weights widen exactly
        BLAS.sgemm(transB: true, m: m, n: r, k: k, a: xr, lda: k, b: block, ldb: k, c: y + r0, ldc: n)
    }
}

/// Convenience for in-memory Float weights.
public func linear(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil) -> Tensor {
    var y = matmul(x, w, transposeB: true)
    if let bias { y.addInPlace(bias) }
    return y
}
