import PrismCore
import PrismTestSupport
import XCTest

final class MatmulTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    /// Products from 2^18 multiply-adds are cut into row blocks, or column blocks for few rows, over Prism's
    /// workers: every transpose, alpha and beta, and leading dimensions wider than the operands, against a
    /// plain triple loop.
    func testSplitGEMMBlocksMatchReference() {
        var rng = SplitMix64(seed: 11)
        for (m, n, k) in [(64, 96, 128), (4, 512, 256)] {
            XCTAssert(m * n * k >= BLAS.smallGEMM)
            for transA in [false, true] { for transB in [false, true] {
                let (lda, ldb, ldc) = ((transA ? m : k) + 3, (transB ? k : n) + 5, n + 2)
                let a = (0..<((transA ? k : m) * lda)).map { _ in Float.random(in: -1...1, using: &rng) }
                let b = (0..<((transB ? n : k) * ldb)).map { _ in Float.random(in: -1...1, using: &rng) }
                var c = (0..<(m * ldc)).map { _ in Float.random(in: -1...1, using: &rng) }
                var expected = c
                for i in 0..<m { for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k {
                        s += Double(transA ? a[p * lda + i] : a[i * lda + p]) * Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                    }
                    expected[i * ldc + j] = Float(0.5 * s + 0.25 * Double(c[i * ldc + j]))
                }}
                c.withUnsafeMutableBufferPointer { pc in a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: pa.baseAddress!, lda: lda,
                               b: pb.baseAddress!, ldb: ldb, beta: 0.25, c: pc.baseAddress!, ldc: ldc)
                }}}
                for i in 0..<m { for j in 0..<ldc {
                    XCTAssertEqual(c[i * ldc + j], expected[i * ldc + j], accuracy: 1e-4, "\(m)×\(n)×\(k) tA \(transA) tB \(transB) [\(i), \(j)]")
                }}
            }}
        }
    }

    func testMatmulMatchesTorch() {
        assertClose(matmul(g.tensor("matmul.a"), g.tensor("matmul.b")), g.tensor("matmul.out"), atol: 1e-5, rtol: 1e-5)
    }

    func testTransposedOperandGivesSameProduct() {
        let a = g.tensor("matmul.a"), b = g.tensor("matmul.b")
        assertClose(matmul(a, b.transposed, transposeB: true), g.tensor("matmul.out"), atol: 1e-5, rtol: 1e-5)
    }

    func testBatchedMatmulMatchesTorch() {
        assertClose(batchedMatmul(g.tensor("bmm.a"), g.tensor("bmm.b")), g.tensor("bmm.out"), atol: 1e-5, rtol: 1e-5)
        let bT = g.tensor("bmm.b").permuted([0, 2, 1])
        assertClose(batchedMatmul(g.tensor("bmm.a"), bT, transposeB: true), g.tensor("bmm.out"), atol: 1e-5, rtol: 1e-5)
    }

    func testLinearF32WeightView() {
        let x = g.tensor("linear.x")
        let w = TensorView(g.tensor("linear.w")), b = TensorView(g.tensor("linear.bias"))
        assertClose(linear(x, w, bias: b), g.tensor("linear.out"), atol: 1e-5, rtol: 1e-5)
        assertClose(linear(x, g.tensor("linear.w"), bias: g.tensor("linear.bias")), g.tensor("linear.out"), atol: 1e-5, rtol: 1e-5)
    }

    /// bf16/f16 weights stay 16-bit and are widened inside `linear`: by the fused small-batch kernel
    /// (6 rows; 40 columns exercise its vector body and scalar tail) and by widen-then-sgemm (12 rows).
    func testLinearHalfPrecisionWeightsAreWidenedInKernel() {
        let x = g.tensor("linear.x"), w = g.tensor("linear.w"), b = TensorView(g.tensor("linear.bias"))
        for (dtype, bits, expected) in [(DType.bf16, Convert.f32ToBF16(w.data), "linear_bf16.out"),
                                        (DType.f16, Convert.f32ToF16(w.data), "linear_f16.out")] {
            bits.withUnsafeBytes { raw in
                let view = TensorView(name: "w", dtype: dtype, shape: w.shape, bytes: raw, owner: nil)
                assertClose(linear(x, view, bias: b), g.tensor(expected), atol: 1e-5, rtol: 1e-5, "\(dtype) fused")
                let x12 = Tensor.concatenate(rows: [x, x]), y12 = Tensor.concatenate(rows: [g.tensor(expected), g.tensor(expected)])
                assertClose(linear(x12, view, bias: b), y12, atol: 1e-5, rtol: 1e-5, "\(dtype) widen+sgemm")
                for rows in 1...5 {
                    assertClose(linear(x.slice(rows: 0..<rows), view, bias: b), g.tensor(expected).slice(rows: 0..<rows),
                                atol: 1e-5, rtol: 1e-5, "\(dtype) \(rows) rows")
                }
            }
        }
    }

    func testShapesOfLeadingAxesArePreserved() {
        let x = Tensor(shape: [2, 3, 4], data: (0..<24).map(Float.init))
        let y = matmul(x, Tensor(shape: [4, 5], data: [Float](repeating: 1, count: 20)))
        XCTAssertEqual(y.shape, [2, 3, 5])
        XCTAssertEqual(y[1, 2, 4], 20 + 21 + 22 + 23)
    }
}
