import XCTest
final class PlaceholderPrismSAMTests: XCTestCase { func testNothing() {} }
