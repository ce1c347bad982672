import XCTest
final class PlaceholderPrismCoreTests: XCTestCase { func testNothing() {} }
