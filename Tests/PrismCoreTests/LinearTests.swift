@testable import PrismCore
import PrismTestSupport
import XCTest

/// `linear` at bf16 precision: x and W rounded to bf16, f32 accumulation, for f32, bf16 and f16 weights and the
/// batch sizes that take different paths (decode-sized 16-bit weights keep the fused f32 kernel).
final class LinearTests: XCTestCase {
    let outF = 45, inF = 70

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
                for m in [1, 5, 8, 9, 37] {
                    let x = randomMatrix(m, inF, seed: UInt64(m))
                    let y = linear(Tensor(shape: [m, inF], data: x), w16)
                    let fused = m <= smallBatchRows && dtype != .f32
                    // the fused decode kernel multiplies f32 activations by the stored 16-bit weights
                    let want = fused ? reference(x, rows: m, stored) : reference(bf16Rounded(x), rows: m, bf16Rounded(stored))
                    assertClose(y, want, atol: 2e-5, rtol: 2e-5, "\(dtype) m=\(m)")
                    if !fused {
                        let f32 = reference(x, rows: m, stored)
                        XCTAssertGreaterThan(y.maxAbsDifference(f32), 1e-4, "\(dtype) m=\(m): bf16 rounding skipped")
                    }
                }
            }
        }
    }

    func testF32PrecisionIsUnchanged() {
        weight(.f32) { view, stored in
            let x = randomMatrix(9, inF, seed: 4)
            assertClose(linear(Tensor(shape: [9, inF], data: x), view), reference(x, rows: 9, stored), atol: 1e-5, rtol: 1e-5)
        }
    }

    /// On a native bf16 CPU the weight is packed once and the pack serves other batch sizes; with no budget the
    /// plain paths give the same numbers.
    func testPackedOnceAndReusedOrPlainWithoutBudget() throws {
        try XCTSkipUnless(OneDNN.hasNativeBF16, "this CPU has no native bf16 GEMM (oneDNN reports \(OneDNN.isaName)): nothing is packed")
        for dtype in [DType.f32, .bf16, .f16] {
            weight(dtype) { view, stored in
                let w16 = view.computed(in: .bf16)
                let x = randomMatrix(40, inF, seed: 5)
                let big = linear(Tensor(shape: [40, inF], data: x), w16)
                let bytes = w16.packs.packedBytes
                XCTAssertGreaterThanOrEqual(bytes, outF * inF * 2, "\(dtype)")
                let small = linear(Tensor(shape: [12, inF], data: Array(x[0..<(12 * inF)])), w16)
                XCTAssertEqual(w16.packs.packedBytes, bytes, "\(dtype): packed twice")
                assertClose(small, big.slice(rows: 0..<12), atol: 1e-6, rtol: 1e-6, "\(dtype)")
                assertClose(big, reference(bf16Rounded(x), rows: 40, bf16Rounded(stored)), atol: 2e-5, rtol: 2e-5, "\(dtype)")

                let saved = PackBudget.limit
                PackBudget.limit = 0
                defer { PackBudget.limit = saved }
                let plain = view.computed(in: .bf16)
                let y = linear(Tensor(shape: [40, inF], data: x), TensorView(name: "w", dtype: plain.dtype, shape: plain.shape,
                                                                             bytes: plain.bytes, owner: nil).computed(in: .bf16))
                assertClose(y, big, atol: 1e-6, rtol: 1e-6, "\(dtype) unpacked")
            }
        }
    }
}
