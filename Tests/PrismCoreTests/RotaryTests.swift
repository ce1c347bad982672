import PrismCore
import PrismTestSupport
import XCTest

final class RotaryTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    func testBothLayoutsMatchTorch() {
        let positions = g.ints("rope.positions")
        let angles = Rotary.angles(positions: positions, dim: 16, theta: 10000)
        var inter = g.tensor("rope.x"), half = g.tensor("rope.x")
        applyRotary(&inter, angles: angles, layout: .interleaved)
        applyRotary(&half, angles: angles, layout: .halfSplit)
        assertClose(inter, g.tensor("rope.interleaved"), atol: 1e-5, rtol: 1e-5)
        assertClose(half, g.tensor("rope.half"), atol: 1e-5, rtol: 1e-5)
    }

    /// Rotating only a sub-range of each head (MLA's rope dims) leaves the other dims untouched.
    func testSubRangeRotation() {
        let x = Tensor(shape: [1, 1, 6], data: [1, 2, 3, 4, 5, 6])
        var y = x
        applyRotary(&y, angles: Tensor(shape: [1, 1], data: [Float.pi / 2]), start: 4, layout: .interleaved)
        XCTAssertEqual(Array(y.data[0..<4]), [1, 2, 3, 4])
        XCTAssertEqual(y.data[4], -6, accuracy: 1e-5)
        XCTAssertEqual(y.data[5], 5, accuracy: 1e-5)
    }
}
