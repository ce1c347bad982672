@testable import PrismCore
import PrismTestSupport
import XCTest

/// `linear` at bf16 precision: x and W rounded to bf16, f32 accumulation, for f32, bf16 and f16 weights and the
/// batch sizes that take different paths (decode-sized f16 weights keep the fused kernel's f32 inputs).
final class LinearTests: XCTestCase {
    let outF = 47, inF = 70   // 47 rows: the fused kernels' blocks of 3 (f16) and 4 or 8 (bf16) rows leave a remainder

    func weight(_ dtype: DType, _ body: (TensorView, [Float]) -> Void) {
        let w = randomMatrix(outF, inF, seed: 11)
        switch dtype {
        case .f32:
            body(TensorView(Tensor(shape: [outF, inF], data: w), name: "w"), w)
        case .bf16, .f16:
            let bits = dtype == .bf16 ? Convert.f32ToBF16(w) : Convert.f32ToF16(w)
            let stored = dtype == .bf16 ? Convert.bf16ToF32(bits) : Convert.f16ToF32(bits)
            bits.withUnsafeBytes { raw in body(TensorView(name: "w", dtype: dtype, shape: [outF, inF], bytes: raw, owner: nil), stored) }
        default: fatalError()
        }
    }

    /// x · Wᵀ in Double.
    func reference(_ x: [Float], rows m: Int, _ w: [Float]) -> Tensor {
        Tensor(shape: [m, outF], data: referenceGEMM(transA: false, transB: true, m: m, n: outF, k: inF, alpha: 1, a: x, lda: inF,
                                                     b: w, ldb: inF, beta: 0, c: [Float](repeating: 0, count: m * outF), ldc: outF))
    }

    func testBF16PrecisionRoundsBothOperands() {
        for dtype in [DType.f32, .bf16, .f16] {
            weight(dtype) { view, stored in
                let w16 = view.computed(in: .bf16)
                for m in [1, 2, 3, 5, 7, 8, 9, 16, 21, 32, 37] {   // every remainder of the groups of 4 inputs
                    let x = randomMatrix(m, inF, seed: UInt64(m))
                    let y = linear(Tensor(shape: [m, inF], data: x), w16)
                    // the fused decode kernel multiplies f16 weights by f32 activations; bf16 weights get inputs
                    // rounded to bf16, as the GEMM path rounds them
                    let f32Inputs = m <= smallBatchRows && dtype == .f16
                    let want = f32Inputs ? reference(x, rows: m, stored) : reference(bf16Rounded(x), rows: m, bf16Rounded(stored))
                    assertClose(y, want, atol: 2e-5, rtol: 2e-5, "\(dtype) m=\(m)")
                    if !f32Inputs {
                        let f32 = reference(x, rows: m, stored)
                        XCTAssertGreaterThan(y.maxAbsDifference(f32), 1e-4, "\(dtype) m=\(m): bf16 rounding skipped")
                    }
                }
            }
        }
    }

    /// f32 weights at f32 precision; one or two input rows take the streamed dot products (the MoE router's
    /// decode path), more go to sgemm.
    func testF32PrecisionIsUnchanged() {
        weight(.f32) { view, stored in
            for m in [1, 2, 3, 9] {
                let x = randomMatrix(m, inF, seed: UInt64(4 + m))
                assertClose(linear(Tensor(shape: [m, inF], data: x), view), reference(x, rows: m, stored), atol: 1e-5, rtol: 1e-5, "m=\(m)")
            }
        }
    }

    /// The oneDNN path packs the weight once and the pack serves other batch sizes; with no budget the plain paths
    /// give the same numbers. With f32 storage of rounded values on every CPU, bf16 where the CPU has it.
    func checkPacking(_ storage: BF16Storage, tolerance: Float) {
        for dtype in [DType.f32, .bf16, .f16] {
            weight(dtype) { view, stored in
                let w = view.computed(in: .bf16)
                func run(_ rows: Int, _ x: [Float], _ w: TensorView) -> Tensor {
                    Tensor(shape: [rows, outF], unsafeUninitialized: { out in
                        x.withUnsafeBufferPointer { oneDNNBF16Linear($0.baseAddress!, rows, w, out.baseAddress!, storage) }
                    })
                }
                let x = randomMatrix(40, inF, seed: 5)
                let big = run(40, x, w)
                let bytes = w.packs.packedBytes
                XCTAssertGreaterThanOrEqual(bytes, outF * inF * storage.size, "\(dtype)")
                let small = run(3, Array(x[0..<(3 * inF)]), w)
                XCTAssertEqual(w.packs.packedBytes, bytes, "\(dtype): packed twice")
                assertClose(small, big.slice(rows: 0..<3), atol: 1e-6, rtol: 1e-6, "\(dtype)")
                assertClose(big, reference(bf16Rounded(x), rows: 40, bf16Rounded(stored)), atol: tolerance, rtol: tolerance, "\(dtype)")

                let saved = PackBudget.limit
                PackBudget.limit = 0
                defer { PackBudget.limit = saved }
                let plain = TensorView(name: "w", dtype: view.dtype, shape: view.shape, bytes: view.bytes, owner: nil).computed(in: .bf16)
                assertClose(run(40, x, plain), big, atol: 1e-6, rtol: 1e-6, "\(dtype) unpacked")
                XCTAssertEqual(plain.packs.packedBytes, 0, "\(dtype): packed past the budget")
            }
        }
    }

    func testOneDNNPathPacksOnceAndMatchesRoundedReference() { checkPacking(.roundedF32, tolerance: 2e-5) }

    func testNativeBF16PacksOnceAndMatchesRoundedReference() throws {
        try XCTSkipUnless(OneDNN.hasNativeBF16, "this CPU has no native bf16 GEMM (oneDNN reports \(OneDNN.isaName)); the same oneDNN path runs on f32 kernels above")
        checkPacking(.bf16, tolerance: 2e-5)
    }

    /// A pack is freed with the last view of its weight: the budget gets its bytes back.
    func testPackIsReleasedWithTheWeight() {
        let before = PackBudget.inUse
        do {
            let w = TensorView(Tensor(shape: [outF, inF], data: randomMatrix(outF, inF, seed: 2)), name: "w").computed(in: .bf16)
            let x = randomMatrix(10, inF, seed: 3)
            x.withUnsafeBufferPointer { px in
                var y = [Float](repeating: 0, count: 10 * outF)
                y.withUnsafeMutableBufferPointer { oneDNNBF16Linear(px.baseAddress!, 10, w, $0.baseAddress!, .roundedF32) }
            }
            XCTAssertEqual(PackBudget.inUse - before, w.packs.packedBytes)
            XCTAssertGreaterThan(w.packs.packedBytes, 0)
        }
        XCTAssertEqual(PackBudget.inUse, before)
    }
}
