import CBLAS
import CDNNL
import CPrismKernels
import Foundation

/// f32 matrix products. Everything funnels into `BLAS.sgemm` (row-major), the one place that picks the library:
///  - inside a Parallel body (attention tiles): oneDNN, single-threaded on that core;
///  - below `smallGEMM` multiply-adds: OpenBLAS, which keeps those on the calling thread;
///  - larger ones: cut into row (or column) blocks over Prism's worker pool, each block single-threaded oneDNN.
/// Neither library's own threads are woken: all cores belong to one pool. After every threaded call OpenBLAS's
/// worker spins on sched_yield for about 0.1 s, so beside Prism's pool it oversubscribed the cores — a fifth of the
/// CPU time of Q4_K_M decoding (perf), 15 % of the embedded model's `ask --batch` wall time and 2.5 s of system time
/// in 5 s (the large prompt GEMMs); oneDNN's OpenMP fork/join made the SAM decoder 3–4× slower under load (README).
public enum BLAS {
    /// The library for a whole GEMM when Prism runs on one thread: oneDNN where it reports AVX-512 (Debian's
    /// OpenBLAS 0.3.21 reached a quarter of oneDNN's sgemm rate on the Intel machine, issue #13), OpenBLAS on AVX2
    /// (equal per-core rates there). `PRISM_F32_GEMM=openblas|onednn` overrides it, to compare the two in one
    /// benchmark run.
    public enum Backend: String, Sendable { case openBLAS = "OpenBLAS", oneDNN }
    public static let backend: Backend = {
        switch ProcessInfo.processInfo.environment["PRISM_F32_GEMM"]?.lowercased() {
        case "onednn": return .oneDNN
        case "openblas": return .openBLAS
        default: return OneDNN.hasAVX512 ? .oneDNN : .openBLAS
        }
    }()
    /// Multiply-adds below which a GEMM runs on the calling thread alone (OpenBLAS's own threshold for threading:
    /// 65,536 × GEMM_MULTITHREAD_THRESHOLD 4).
    public static let smallGEMM = 1 << 18

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
        // Inside a Parallel body (attention tiles) the GEMM must stay on its core: oneDNN runs single-threaded
        // there, while OpenBLAS would hand it to its own thread pool.
        let work = m * n * k
        if Parallel.isWorker {
            sgemm(using: .oneDNN, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                  ldb: ldb, beta: beta, c: c, ldc: ldc, singleThreaded: true)
        } else if work < smallGEMM {
            // OpenBLAS runs these on the calling thread (below its own threading threshold) with less fixed cost per
            // call than oneDNN
            sgemm(using: .openBLAS, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                  ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else if Parallel.threads == 1 {
            sgemm(using: backend, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                  ldb: ldb, beta: beta, c: c, ldc: ldc, singleThreaded: true)
        } else {
            // C's rows (A's rows) or, for few rows, C's columns (B's columns) in one block per worker
            let byRows = m >= 4 * Parallel.threads || n < 16 * Parallel.threads
            Parallel.forEach(byRows ? m : n, pieces: Parallel.threads) { r in
                let o = r.lowerBound
                if byRows {
                    sgemm(using: .oneDNN, transA: transA, transB: transB, m: r.count, n: n, k: k, alpha: alpha,
                          a: a + (transA ? o : o * lda), lda: lda, b: b, ldb: ldb, beta: beta, c: c + o * ldc, ldc: ldc,
                          singleThreaded: true)
                } else {
                    sgemm(using: .oneDNN, transA: transA, transB: transB, m: m, n: r.count, k: k, alpha: alpha,
                          a: a, lda: lda, b: b + (transB ? o * ldb : o), ldb: ldb, beta: beta, c: c + o, ldc: ldc,
                          singleThreaded: true)
                }
            }
        }
    }

    /// The same product on a given library (benchmarks compare them; models go through `sgemm`).
    public static func sgemm(using library: Backend, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, singleThreaded: Bool = false) {
        _ = configured
        switch library {
        case .oneDNN:
            OneDNN.prepareThreads(single: singleThreaded)
            let status = dnnl_sgemm(transA ? 84 : 78, transB ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda),
                                    b, Int64(ldb), beta, c, Int64(ldc))   // 'T' / 'N'
            OneDNN.check(status, "dnnl_sgemm \(m)×\(n)×\(k)")
        case .openBLAS:
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
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
