import PrismCore
import PrismTestSupport
import XCTest

final class TopKTests: XCTestCase {
    let g = try! Golden("core_ops.safetensors")

    func testTopKMatchesTorch() {
        let (values, indices) = g.tensor("topk.x").topK(5)
        assertClose(values, g.tensor("topk.values"), atol: 0, rtol: 0)
        XCTAssertEqual(indices.flatMap { $0 }, g.ints("topk.indices"))
    }

    func testTiesPreferLowerIndex() {
        XCTAssertEqual(topK([1, 3, 3, 2, 3], k: 2).indices, [1, 2])
        XCTAssertEqual(topK([5, 4], k: 0).indices, [])
        XCTAssertEqual(topK([-1, -5, 0], k: 3).indices, [2, 0, 1])
    }
}
