import XCTest
final class PlaceholderPrismTokenizerTests: XCTestCase { func testNothing() {} }
