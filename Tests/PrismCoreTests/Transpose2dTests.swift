import PrismCore
import XCTest

final class Transpose2dTests: XCTestCase {
    func testMatchesPermutedForRaggedTiles() {
        for (r, c) in [(1, 1), (3, 70), (65, 33), (100, 257)] {
            let x = Tensor(shape: [r, c], data: (0..<(r * c)).map { Float($0) * 0.5 - 3 })
            XCTAssertEqual(transpose2d(x), x.permuted([1, 0]), "\(r)×\(c)")
        }
    }
}
