import XCTest
final class PlaceholderPrismIOTests: XCTestCase { func testNothing() {} }
