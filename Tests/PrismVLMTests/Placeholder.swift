import XCTest
final class PlaceholderPrismVLMTests: XCTestCase { func testNothing() {} }
