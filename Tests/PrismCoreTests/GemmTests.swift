@testable import PrismCore
import PrismTestSupport
import XCTest

/// Random values that bf16 cannot hold exactly (so skipping a rounding step shows).
func randomMatrix(_ rows: Int, _ cols: Int, seed: UInt64) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<(rows * cols)).map { _ in Float(rng.nextUnit() * 2 - 1) }
}

/// C = alpha · op(A) · op(B) + beta · C in Double, row-major with leading dimensions.
func referenceGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
                   b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
    var out = c
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p], bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            out[i * ldc + j] = Float(Double(alpha) * s + Double(beta) * Double(c[i * ldc + j]))
        }
    }
    return out
}

func bf16Rounded(_ x: [Float]) -> [Float] { Convert.bf16ToF32(Convert.f32ToBF16(x)) }

final class GemmTests: XCTestCase {
    /// Odd shapes: one row, k not a multiple of 8 or 16, transposed operands, padded leading dimensions, alpha, beta.
    struct Case {
        let m, n, k: Int, transA, transB: Bool, alpha, beta: Float, pad: Int
    }
    let cases = [
        Case(m: 1, n: 37, k: 19, transA: false, transB: true, alpha: 1, beta: 0, pad: 0),
        Case(m: 7, n: 5, k: 33, transA: false, transB: false, alpha: 0.5, beta: 0, pad: 3),
        Case(m: 13, n: 29, k: 17, transA: true, transB: false, alpha: 1, beta: 1, pad: 1),
        Case(m: 64, n: 48, k: 70, transA: true, transB: true, alpha: -2, beta: 0.25, pad: 5),
        Case(m: 130, n: 1, k: 9, transA: false, transB: true, alpha: 1, beta: 0, pad: 0),
    ]

    /// Runs `body` on each case with its operands; returns nothing, the body asserts.
    func forEachCase(_ body: (Case, _ a: [Float], _ lda: Int, _ b: [Float], _ ldb: Int, _ c: [Float], _ ldc: Int) -> Void) {
        for (i, t) in cases.enumerated() {
            let (aRows, aCols) = t.transA ? (t.k, t.m) : (t.m, t.k)
            let (bRows, bCols) = t.transB ? (t.n, t.k) : (t.k, t.n)
            let lda = aCols + t.pad, ldb = bCols + t.pad, ldc = t.n + t.pad
            body(t, randomMatrix(aRows, lda, seed: UInt64(3 * i)), lda, randomMatrix(bRows, ldb, seed: UInt64(3 * i + 1)), ldb,
                 randomMatrix(t.m, ldc, seed: UInt64(3 * i + 2)), ldc)
        }
    }

    func run(_ precision: Precision, _ t: Case, _ a: [Float], _ lda: Int, _ b: [Float], _ ldb: Int, _ c: [Float], _ ldc: Int) -> [Float] {
        var out = c
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in out.withUnsafeMutableBufferPointer { pc in
            GEMM.multiply(precision, transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                          a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: t.beta, c: pc.baseAddress!, ldc: ldc)
        }}}
        return out
    }

    func testF32MatchesReference() {
        forEachCase { t, a, lda, b, ldb, c, ldc in
            let want = referenceGEMM(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: a, lda: lda,
                                     b: b, ldb: ldb, beta: t.beta, c: c, ldc: ldc)
            assertClose(Tensor(shape: [c.count], data: run(.f32, t, a, lda, b, ldb, c, ldc)), Tensor(shape: [c.count], data: want),
                        atol: 1e-5, rtol: 1e-5, "\(t)")
        }
    }

    /// Both f32 libraries behind the seam, each called directly.
    func testBothF32LibrariesMatchReference() {
        forEachCase { t, a, lda, b, ldb, c, ldc in
            let want = referenceGEMM(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: a, lda: lda,
                                     b: b, ldb: ldb, beta: t.beta, c: c, ldc: ldc)
            for library in [BLAS.Backend.openBLAS, .oneDNN] {
                var out = c
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in out.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(using: library, transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                               a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: t.beta, c: pc.baseAddress!, ldc: ldc)
                }}}
                assertClose(Tensor(shape: [c.count], data: out), Tensor(shape: [c.count], data: want), atol: 1e-5, rtol: 1e-5,
                            "\(library) \(t)")
            }
        }
    }

    /// Inside a Parallel body the f32 GEMM runs on oneDNN, single-threaded: same results.
    func testF32InsideParallelBodyMatchesReference() {
        forEachCase { t, a, lda, b, ldb, c, ldc in
            let want = referenceGEMM(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: a, lda: lda,
                                     b: b, ldb: ldb, beta: t.beta, c: c, ldc: ldc)
            var results = [[Float]](repeating: [], count: 2)
            let lock = NSLock()
            Parallel.forEach(2) { r in
                XCTAssertTrue(Parallel.isWorker || Parallel.threads == 1)
                for i in r { let y = run(.f32, t, a, lda, b, ldb, c, ldc); lock.withLock { results[i] = y } }
            }
            for y in results {
                assertClose(Tensor(shape: [c.count], data: y), Tensor(shape: [c.count], data: want), atol: 1e-5, rtol: 1e-5, "\(t)")
            }
        }
    }

    /// bf16: the product of the operands rounded to bf16, summed in f32 (reference in Double on rounded inputs).
    func testBF16IsTheProductOfRoundedOperands() {
        forEachCase { t, a, lda, b, ldb, c, ldc in
            let want = referenceGEMM(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                                     a: bf16Rounded(a), lda: lda, b: bf16Rounded(b), ldb: ldb, beta: t.beta, c: c, ldc: ldc)
            let got = run(.bf16, t, a, lda, b, ldb, c, ldc)
            assertClose(Tensor(shape: [c.count], data: got), Tensor(shape: [c.count], data: want), atol: 2e-5, rtol: 2e-5, "\(t)")
            // and it is not the f32 product: the rounding really happened
            let f32 = referenceGEMM(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: a, lda: lda,
                                    b: b, ldb: ldb, beta: t.beta, c: c, ldc: ldc)
            XCTAssertGreaterThan(zip(got, f32).map { abs($0 - $1) }.max()!, 1e-4, "\(t)")
        }
    }

    /// The oneDNN bf16 path (dense copies, transposes, alpha as output scale, beta as a sum post-op) against the
    /// emulation: with f32 storage of rounded values on every CPU, with bf16 storage where the CPU has it.
    func checkOneDNNPath(_ storage: BF16Storage, tolerance: Float) {
        forEachCase { t, a, lda, b, ldb, c, ldc in
            var onednn = c, emulated = c
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                onednn.withUnsafeMutableBufferPointer { pc in
                    XCTAssertTrue(GEMM.oneDNNBF16(storage, transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                                                  a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: t.beta,
                                                  c: pc.baseAddress!, ldc: ldc))
                }
                emulated.withUnsafeMutableBufferPointer { pc in
                    GEMM.emulatedBF16(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha,
                                      a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: t.beta,
                                      c: pc.baseAddress!, ldc: ldc)
                }
            }}
            assertClose(Tensor(shape: [c.count], data: onednn), Tensor(shape: [c.count], data: emulated),
                        atol: tolerance, rtol: tolerance, "\(storage) \(t)")
        }
    }

    func testOneDNNPathMatchesEmulation() { checkOneDNNPath(.roundedF32, tolerance: 2e-6) }

    func testNativeBF16MatchesEmulation() throws {
        try XCTSkipUnless(OneDNN.hasNativeBF16, "this CPU has no native bf16 GEMM (oneDNN reports \(OneDNN.isaName)); the same oneDNN path runs on f32 kernels above")
        checkOneDNNPath(.bf16, tolerance: 2e-5)
    }

    func testRoundToBF16MatchesConversionRoundTrip() {
        var x = randomMatrix(1, 1001, seed: 9).map { $0 * 1e3 }
        x += [0, -0, .infinity, -.infinity, 1.0 + 1.0 / 256, 1.0 + 3.0 / 256, Float.greatestFiniteMagnitude]
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { o in
            Convert.roundToBF16(p.baseAddress!, o.baseAddress!, count: x.count)
        }}
        let expected = bf16Rounded(x)
        XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern))
        // ties to even: 1 + 2⁻⁸ sits halfway between 1 and 1 + 2⁻⁷ and rounds down; 1 + 3·2⁻⁸ rounds up
        XCTAssertEqual(out[1005], 1.0)
        XCTAssertEqual(out[1006], 1.0 + 4.0 / 256)
        var nan: [Float] = [.nan]
        nan.withUnsafeMutableBufferPointer { Convert.roundToBF16($0.baseAddress!, $0.baseAddress!, count: 1) }
        XCTAssertTrue(nan[0].isNaN)
    }
}
