import PrismCore
import PrismTestSupport
import XCTest

final class ResizeTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    func testMatchesTorchInterpolate() {
        let x = g.tensor("resize.x")
        for (h, w) in [(13, 17), (4, 5), (7, 9), (10, 6)] {
            assertClose(resize(x, height: h, width: w, mode: .bicubic), g.tensor("resize.bicubic_\(h)x\(w)"),
                        atol: 1e-5, rtol: 1e-5, "bicubic \(h)x\(w)")
            assertClose(resize(x, height: h, width: w, mode: .bilinear), g.tensor("resize.bilinear_\(h)x\(w)"),
                        atol: 1e-5, rtol: 1e-5, "bilinear \(h)x\(w)")
        }
    }
}
