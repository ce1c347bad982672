import PrismCore
import PrismTestSupport
import XCTest

final class TensorTests: XCTestCase {
    func testPermuteMatchesIndexArithmetic() {
        let x = Tensor(shape: [2, 3, 4], data: (0..<24).map(Float.init))
        let y = x.permuted([2, 0, 1])
        XCTAssertEqual(y.shape, [4, 2, 3])
        for a in 0..<2 { for b in 0..<3 { for c in 0..<4 { XCTAssertEqual(y[c, a, b], x[a, b, c]) } } }
    }

    func testSlicesAndConcatenationRoundTrip() {
        let x = Tensor(shape: [4, 3], data: (0..<12).map(Float.init))
        XCTAssertEqual(Tensor.concatenate(rows: [x.slice(rows: 0..<1), x.slice(rows: 1..<4)]), x)
        XCTAssertEqual(Tensor.concatenate(lastAxis: [x.slice(lastAxis: 0..<2), x.slice(lastAxis: 2..<3)]), x)
        XCTAssertEqual(x.slice(lastAxis: 1..<2).data, [1, 4, 7, 10])
    }

    func testBroadcastAddOfBiasRow() {
        let x = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
        XCTAssertEqual((x + Tensor(shape: [2], data: [10, 20])).data, [11, 22, 13, 24])
    }

    func testReshapeInfersOneAxis() {
        XCTAssertEqual(Tensor(zeros: [2, 6]).reshaped([3, -1]).shape, [3, 4])
    }
}
