import XCTest
final class PlaceholderPrismDataTests: XCTestCase { func testNothing() {} }
