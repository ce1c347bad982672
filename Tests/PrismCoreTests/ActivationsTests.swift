import Foundation
import PrismCore
import PrismTestSupport
import XCTest

final class ActivationsTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    func testActivationsMatchTorch() {
        let x = g.tensor("act.x")
        for (act, name) in [(Activation.gelu, "act.gelu"), (.geluTanh, "act.gelu_tanh"), (.silu, "act.silu"), (.sigmoid, "act.sigmoid")] {
            assertClose(x.applying(act), g.tensor(name), atol: 1e-6, rtol: 1e-5, "\(act)")
        }
    }

    /// Exact and tanh GELU differ measurably; a mix-up must not pass the tests above.
    func testExactAndTanhGeluDiffer() {
        let x = g.tensor("act.x")
        XCTAssertGreaterThan(x.applying(.gelu).maxAbsDifference(g.tensor("act.gelu_tanh")), 1e-4)
    }

    func testSiluMulIsSwiGLU() {
        let gate = Tensor(shape: [2], data: [1, -2]), up = Tensor(shape: [2], data: [3, 4])
        let y = siluMul(gate, up)
        XCTAssertEqual(y.data[0], Activations.silu(1) * 3, accuracy: 1e-6)
        XCTAssertEqual(y.data[1], Activations.silu(-2) * 4, accuracy: 1e-6)
    }

    /// The vectorised kernels against libm (erff, tanhf, expf) far into the saturated and underflow ranges,
    /// with a length that leaves a scalar tail.
    func testVectorKernelsAgreeWithLibmOverWideRange() {
        var rng = SplitMix64(seed: 5)
        let x = Tensor(shape: [1003], data: (0..<1003).map { _ in Float(rng.nextUnit() * 200 - 100) })
        for act in [Activation.gelu, .geluTanh, .silu, .sigmoid] {
            let reference = Tensor(shape: x.shape, data: x.data.map { act.apply($0) })
            assertClose(x.applying(act), reference, atol: 2e-6, rtol: 2e-6, "\(act)")
        }
    }

    func testSoftmaxWithMaskedEntriesAndExtremeScores() {
        let row: [Float] = [-.infinity, 80, -80, 0, -.infinity, 79.5, 3, -1000, 1, 2, 0.5]
        let y = softmax(Tensor(shape: [1, row.count], data: row))
        let m = row.max()!
        let e = row.map { $0 == -.infinity ? 0 : Foundation.exp(Double($0 - m)) }
        let sum = e.reduce(0, +)
        assertClose(y, Tensor(shape: [1, row.count], data: e.map { Float($0 / sum) }), atol: 1e-7, rtol: 1e-6)
        XCTAssertEqual(y.data[0], 0)
        XCTAssertEqual(y.data[7], 0)
    }
}
