import PrismCore
import XCTest

final class StatisticsTests: XCTestCase {
    func testMedianOfOddAndEvenCounts() {
        XCTAssertEqual(median([3, 1, 2]), 2)
        XCTAssertEqual(median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(median([7]), 7)
    }
}
