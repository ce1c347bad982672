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
            if k > 0, let storage = BF16Storage.native,
               oneDNNBF16(storage, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc) { return }
            emulatedBF16(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                         a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// oneDNN's matmul on dense copies of the operands in `storage`; false when oneDNN has no kernel for it.
    static func oneDNNBF16(_ storage: BF16Storage, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) -> Bool {
        // A as dense [m, k]; B as dense [k, n] (transposed while copying when given as [n, k])
        let ab = storage.dense(a, rows: m, cols: k, ld: lda, transposed: transA)
        let bb = storage.dense(b, rows: k, cols: n, ld: ldb, transposed: transB)
        defer { ab.deallocate(); bb.deallocate() }
        let src = MatrixDesc(rows: m, cols: k, type: storage.type, rowStride: k)
        let wei = MatrixDesc(rows: k, cols: n, type: storage.type, rowStride: n)
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

