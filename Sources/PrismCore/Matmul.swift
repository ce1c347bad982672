import CBLAS
import CPrismKernels

/// BLAS-backed matrix products. Everything funnels into `BLAS.sgemm` (row-major).
public enum BLAS {
    /// OpenBLAS threads = Prism's thread count, set once on first use.
    private static let configured: Bool = {
        openblas_set_num_threads(Int32(Parallel.threads))
        return true
    }()

    /// C[M,N] = alpha · op(A) · op(B) + beta · C, row-major, with leading dimensions.
    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = configured
        guard m > 0, n > 0 else { return }
        if k == 0 {   // BLAS leaves C untouched for k == 0 only when beta == 1
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// a[..., M, K] · b[K, N] (or b[N, K] with `transposeB`) → [..., M, N]. Leading axes of `a` are rows.
public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
    precondition(b.rank == 2, "matmul: b must be rank 2, got \(b.shape)")
    let k = a.lastDim, m = a.rows
    let n = transposeB ? b.shape[0] : b.shape[1]
    precondition((transposeB ? b.shape[1] : b.shape[0]) == k, "matmul: \(a.shape) × \(b.shape)\(transposeB ? "ᵀ" : "")")
    var outShape = a.shape; outShape[outShape.count - 1] = n
    if a.rank == 1 { outShape = [n] }
    return Tensor(shape: outShape, unsafeUninitialized: { out in
        a.data.withUnsafeBufferPointer { pa in b.data.withUnsafeBufferPointer { pb in
            BLAS.sgemm(transB: transposeB, m: m, n: n, k: k, a: pa.baseAddress!, lda: k,
                       b: pb.baseAddress!, ldb: transposeB ? k : n, c: out.baseAddress!, ldc: n)
        }}
    })
}

/// a[B, M, K] · b[B, K, N] (or b[B, N, K] with `transposeB`) → [B, M, N].
public func batchedMatmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
    precondition(a.rank == 3 && b.rank == 3 && a.shape[0] == b.shape[0], "batchedMatmul: \(a.shape) × \(b.shape)")
    let batch = a.shape[0], m = a.shape[1], k = a.shape[2]
    let n = transposeB ? b.shape[1] : b.shape[2]
    precondition((transposeB ? b.shape[2] : b.shape[1]) == k, "batchedMatmul: \(a.shape) × \(b.shape)")
    return Tensor(shape: [batch, m, n], unsafeUninitialized: { out in
        a.data.withUnsafeBufferPointer { pa in b.data.withUnsafeBufferPointer { pb in
            for i in 0..<batch {
                BLAS.sgemm(transB: transposeB, m: m, n: n, k: k, a: pa.baseAddress! + i * m * k, lda: k,
                           b: pb.baseAddress! + i * k * n, ldb: transposeB ? k : n,
                           c: out.baseAddress! + i * m * n, ldc: n)
            }
        }}
    })
}

/// Up to this many input rows, 16-bit weights use the fused widen+FMA kernel instead of widen-then-sgemm.
let smallBatchRows = 8

/// Rows of a weight widened per block, so bf16/f16 weights never exist as a full Float32 copy.
let widenBlockElements = 1 << 20

/// y = x · Wᵀ + b for a PyTorch-layout weight W[out, in] in any float dtype. x: [..., in] → [..., out].
/// F32 weights are read in place; bf16/f16 are widened block by block into a scratch buffer.
public func linear(_ x: Tensor, _ w: TensorView, bias: TensorView? = nil) -> Tensor {
    precondition(w.shape.count == 2 && w.shape[1] == x.lastDim,
                 "linear \(w.name): input \(x.shape) does not match weight \(w.shape)")
    let outF = w.shape[0], inF = w.shape[1], m = x.rows
    var outShape = x.shape; outShape[outShape.count - 1] = outF
    var y = Tensor(shape: outShape, unsafeUninitialized: { out in
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
    if let bias {
        precondition(bias.count == outF, "linear \(bias.name): bias \(bias.shape) for \(outF) outputs")
        y.addInPlace(bias.toTensor())
    }
    return y
}

/// Convenience for in-memory Float weights.
public func linear(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil) -> Tensor {
    var y = matmul(x, w, transposeB: true)
    if let bias { y.addInPlace(bias) }
    return y
}
