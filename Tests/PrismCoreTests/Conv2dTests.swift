import PrismCore
import PrismTestSupport
import XCTest

final class Conv2dTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    func testMatchesTorchConv2d() {
        for (name, stride, padding) in [("conv_3x3", 1, 1), ("conv_s2", 2, 0), ("conv_patch", 5, 0)] {
            let y = conv2d(g.tensor("\(name).x"), weight: TensorView(g.tensor("\(name).w")),
                           bias: TensorView(g.tensor("\(name).b")), stride: stride, padding: padding)
            assertClose(y, g.tensor("\(name).out"), atol: 1e-5, rtol: 1e-5, name)
        }
    }
}
