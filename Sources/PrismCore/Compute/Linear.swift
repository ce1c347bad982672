// The one matrix-product seam for weights: `linear(x, W)` dispatches on the weight's storage (f32, bf16,
// f16, and the block-quantised types as they arrive) and, for dense weights, on the compute precision.
// Model files call only this; no model file tests CPU flags or dtypes.
import CPrismKernels

/// Up to this many input rows, 16-bit weights use the fused widen+FMA kernel instead of widen-then-sgemm.
let smallBatchRows = 8

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

/// Float weights (f32 read in place; bf16/f16 widened inside the kernel or block by block into scratch).
func denseLinear(_ x: Tensor, _ w: TensorView) -> Tensor {
    let outF = w.shape[0], inF = w.shape[1], m = x.rows
    var outShape = x.shape; outShape[outShape.count - 1] = outF
    return Tensor(shape: outShape, unsafeUninitialized: { out in
        x.data.withUnsafeBufferPointer { px in
            if w.dtype == .f32 {
                BLAS.sgemm(transB: true, m: m, n: outF, k: inF, a: px.baseAddress!, lda: inF,
                           b: w.bytes.baseAddress!.assumingMemoryBound(to: Float.self), ldb: inF,
                           c: out.baseAddress!, ldc: outF)
                return
            }
            if m <= smallBatchRows && (w.dtype == .bf16 || w.dtype == .f16) {
                // Decode-shaped: bandwidth-bound, so widen inside the dot products and split rows over cores.
                let wp = w.bytes.baseAddress!.assumingMemoryBound(to: UInt16.self)
                let y = out.baseAddress!
                Parallel.forEach(outF, minChunk: 64) { r in
                    prism_gemm_w16(px.baseAddress!, m, wp, w.dtype == .bf16 ? 1 : 0, inF, r.lowerBound, r.upperBound, y, outF)
                }
                return
            }
            let blockRows = max(1, min(outF, widenBlockElements / max(1, inF)))
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockRows * inF)
            defer { scratch.deallocate() }
            var r0 = 0
            while r0 < outF {
                let r = min(blockRows, outF - r0)
                w.widen(from: r0 * inF, count: r * inF, into: scratch)
                BLAS.sgemm(transB: true, m: m, n: r, k: inF, a: px.baseAddress!, lda: inF,
                           b: scratch, ldb: inF, c: out.baseAddress! + r0, ldc: outF)
                r0 += r
            }
        }
    })
}

/// Convenience for in-memory Float weights.
public func linear(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil) -> Tensor {
    var y = matmul(x, w, transposeB: true)
    if let bias { y.addInPlace(bias) }
    return y
}
