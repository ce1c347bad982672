// Matrix products of activations (no weight to pre-pack) at a precision: attention scores and values, the
// reassociated SAM decoder products. f32 goes to the BLAS seam (`BLAS.sgemm`); bf16 converts both operands
// per call and runs oneDNN's bf16 kernel, or the emulation where the CPU has none.
import CDNNL
import CPrismKernels

public enum GEMM {
    /// C[m, n] = alpha · op(A) · op(B) + beta · C, row-major with leading dimensions, at `precision`
    /// (op = transpose when asked). bf16: A and B rounded to bf16, products summed in f32, C in f32.
    public static func multiply(_ precision: Precision, transA: Bool = false, transB: Bool = false,
                                m: Int, n: Int, k: Int, alpha: Float = 1,
                                a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        switch precision {
        case .f32:
            BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc)
        case .bf16:
            if k > 0 && OneDNN.hasNativeBF16 && nativeBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                                          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
            emulatedBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                         a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// oneDNN's bf16 matmul on dense bf16 copies of the operands; false when oneDNN has no kernel for it.
    static func nativeBF16(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        // A as dense [m, k]; B as dense [k, n], or [n, k] read transposed
        let ab = BF16.dense(a, rows: m, cols: k, ld: lda, transposed: transA)
        let bb = transB ? BF16.dense(b, rows: n, cols: k, ld: ldb, transposed: false)
                        : BF16.dense(b, rows: k, cols: n, ld: ldb, transposed: false)
        defer { ab.deallocate(); bb.deallocate() }
        let src = MatrixDesc(rows: m, cols: k, type: dnnl_bf16, rowStride: k)
        let wei = transB ? MatrixDesc(rows: k, cols: n, type: dnnl_bf16, rowStride: k, transposed: true)
                         : MatrixDesc(rows: k, cols: n, type: dnnl_bf16, rowStride: n)
        if let p = MatmulPrimitive(src: src, weights: wei, dst: MatrixDesc(rows: m, cols: n, type: dnnl_f32, rowStride: ldc),
                                   scale: alpha, accumulate: beta) {
            p.execute(src: ab, weights: bb, dst: c)
            return true
        }
        // strided or accumulating output not taken: dense product, then C = product + beta · C here
        guard let p = MatmulPrimitive(src: src, weights: wei, dst: MatrixDesc(rows: m, cols: n, type: dnnl_f32, rowStride: n),
                                      scale: alpha) else { return false }
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { tmp.deallocate() }
        p.execute(src: ab, weights: bb, dst: tmp)
        for i in 0..<m {
            let row = c + i * ldc, t = tmp + i * n
            if beta == 0 { row.update(from: t, count: n) } else { for j in 0..<n { row[j] = t[j] + beta * row[j] } }
        }
        return true
    }

    /// The bf16 numerics on the f32 GEMM: both operands rounded to bf16 first.
    static func emulatedBF16(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let (aRows, aCols) = transA ? (k, m) : (m, k)
        let (bRows, bCols) = transB ? (n, k) : (k, n)
        let ra = BF16.roundedDense(a, rows: aRows, cols: aCols, ld: lda)
        let rb = BF16.roundedDense(b, rows: bRows, cols: bCols, ld: ldb)
        defer { ra.deallocate(); rb.deallocate() }
        BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ra, lda: aCols, b: rb, ldb: bCols,
                   beta: beta, c: c, ldc: ldc)
    }
}

/// bf16 copies of f32 data (fresh buffers the caller deallocates), converted over the cores when large.
enum BF16 {
    static func copy(_ x: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<UInt16> {
        let out = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, count))
        Parallel.forEach(count, minChunk: 1 << 16) { r in
            Convert.f32ToBF16(x + r.lowerBound, out + r.lowerBound, count: r.count)
        }
        return out
    }

    /// x rounded to bf16 values, kept as f32 (the emulation's operands).
    static func rounded(_ x: UnsafePointer<Float>, count: Int) -> UnsafeMutablePointer<Float> {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
        Parallel.forEach(count, minChunk: 1 << 16) { r in
            Convert.roundToBF16(x + r.lowerBound, out + r.lowerBound, count: r.count)
        }
        return out
    }

    /// rows × cols of a row-major matrix with leading dimension `ld` (or of its transpose) as dense bf16.
    static func dense(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, transposed: Bool) -> UnsafeMutablePointer<UInt16> {
        if !transposed && ld == cols { return copy(x, count: rows * cols) }
        let out = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, rows * cols))
        if transposed {
            // element (i, j) of the result is x[j, i]
            let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, cols))
            defer { row.deallocate() }
            for i in 0..<rows {
                for j in 0..<cols { row[j] = x[j * ld + i] }
                Convert.f32ToBF16(row, out + i * cols, count: cols)
            }
        } else {
            for i in 0..<rows { Convert.f32ToBF16(x + i * ld, out + i * cols, count: cols) }
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
