import PrismCore
import PrismTestSupport
import XCTest

final class ConvTranspose2dTests: XCTestCase {
    let g = try! Golden("sam_core_ops.safetensors")

    func testMatchesTorchConvTranspose2dStride2() {
        let out = convTranspose2d(g.tensor("convt.x"), weight: TensorView(g.tensor("convt.w"), name: "w"),
                                  bias: TensorView(g.tensor("convt.b"), name: "b"), stride: 2)
        assertClose(out, g.tensor("convt.out"), atol: 1e-5, rtol: 1e-5)
    }

    func testWithoutBiasEachPixelWritesItsOwnBlock() {
        // one input channel, one output channel, a single 1 at (0, 1): the output is W placed at rows 0–1, cols 2–3
        let x = Tensor(shape: [1, 1, 2], data: [0, 1])
        let w = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let out = convTranspose2d(x, weight: TensorView(w), stride: 2)
        XCTAssertEqual(out.shape, [1, 2, 4])
        XCTAssertEqual(out.data, [0, 0, 1, 2, 0, 0, 3, 4])
    }
}
