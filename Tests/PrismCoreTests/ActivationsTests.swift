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
}
