import CPrismKernels
@testable import PrismCore
import XCTest

/// The fused 16-bit decode kernels (`prism_gemm_w16`), every variant this CPU runs: portable C, AVX2, AVX-512F and
/// AVX512-BF16, for f16 and bf16 weights with f32 inputs and bf16 weights at bf16 precision (inputs rounded to
/// bf16). Shapes leave remainders of every row block (8, 4, 1) and input group (4) and a column tail.
final class GemmW16Tests: XCTestCase {
    let rows = 47, cols = 70

    override func tearDown() { _ = prism_gemm_w16_select(-1) }

    func product(_ x: [Float], m: Int, _ w: [UInt16], kind: Int32) -> [Float] {
        var prepared = [Float](repeating: 0, count: m * cols), y = [Float](repeating: .nan, count: m * rows)
        if prism_gemm_w16_prepare(x, m, cols, kind, &prepared) == 0 { prepared = x }
        prism_gemm_w16(prepared, m, w, kind, cols, 0, rows, &y, rows)
        return y
    }

    func testEveryVariantAgainstDouble() {
        let weights = randomMatrix(rows, cols, seed: 21)
        let bf16 = Convert.f32ToBF16(weights), f16 = Convert.f32ToF16(weights)
        let cases: [(kind: Int32, bits: [UInt16], stored: [Float], roundsInput: Bool)] = [
            (Int32(PRISM_W16_F16), f16, Convert.f16ToF32(f16), false),
            (Int32(PRISM_W16_BF16), bf16, Convert.bf16ToF32(bf16), false),
            (Int32(PRISM_W16_BF16_PRECISION), bf16, Convert.bf16ToF32(bf16), true),
        ]
        var ran = 0
        for variant in Int32(0)...3 where prism_gemm_w16_select(variant) == 1 {
            ran += 1
            for c in cases { for m in [1, 2, 3, 4, 5, 7, 8, 9, 13] {
                let x = randomMatrix(m, cols, seed: UInt64(100 + m)), xs = c.roundsInput ? bf16Rounded(x) : x
                let got = product(x, m: m, c.bits, kind: c.kind)
                var worst = 0.0
                for i in 0..<m { for r in 0..<rows {
                    var want = 0.0
                    for k in 0..<cols { want += Double(xs[i * cols + k]) * Double(c.stored[r * cols + k]) }
                    worst = max(worst, abs(want - Double(got[i * rows + r])))
                }}
                XCTAssertLessThan(worst, 1e-5, "variant \(variant), kind \(c.kind), m=\(m)")
            }}
        }
        XCTAssertGreaterThanOrEqual(ran, 1)
    }

    /// A row's result does not depend on how many other rows share the product (the blocks it lands in), bit for
    /// bit: a sequence decodes the same alone and in a batch.
    func testResultsDoNotDependOnBatchSize() {
        let bf16 = Convert.f32ToBF16(randomMatrix(rows, cols, seed: 22))
        let f16 = Convert.f32ToF16(randomMatrix(rows, cols, seed: 23))
        for variant in Int32(0)...3 where prism_gemm_w16_select(variant) == 1 {
            for (kind, w) in [(Int32(PRISM_W16_F16), f16), (Int32(PRISM_W16_BF16), bf16), (Int32(PRISM_W16_BF16_PRECISION), bf16)] {
                let m = 11, x = randomMatrix(m, cols, seed: 24)
                let together = product(x, m: m, w, kind: kind)
                for i in 0..<m {
                    let alone = product(Array(x[(i * cols)..<((i + 1) * cols)]), m: 1, w, kind: kind)
                    XCTAssertEqual(Array(together[(i * rows)..<((i + 1) * rows)]), alone, "variant \(variant), kind \(kind), row \(i)")
                }
            }
        }
    }

    func testSelectingAnUnsupportedVariantChangesNothing() {
        XCTAssertEqual(prism_gemm_w16_select(4), 0)
        XCTAssertEqual(prism_gemm_w16_select(-1), 1)
    }
}
