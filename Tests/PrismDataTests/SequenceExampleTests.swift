import XCTest
@testable import PrismData

final class SequenceExampleTests: XCTestCase {
    func testRoundTrip() throws {
        let sequence = SequenceExample(
            context: ["id": .strings(["clip"]), "length": .int64s([3])],
            featureLists: ["score": [.floats([0.5]), .floats([]), .floats([1, 2])], "tokens": [.int64s([1, 2])], "none": []])
        XCTAssertEqual(try SequenceExample(serialized: sequence.serialized()), sequence)
    }

    func testAnExampleDecodesAsContextOnly() throws {
        let example = Example(["label": .int64s([4])])
        XCTAssertEqual(try SequenceExample(serialized: example.serialized()), SequenceExample(context: example.features))
    }

    func testInvalidBytesAreATypedError() {
        XCTAssertThrowsError(try SequenceExample(serialized: [0x12, 0x05, 0x01])) { error in
            XCTAssertEqual(error as? TFRecordError, .invalidExample(nil, reason: "SequenceExample.feature_lists runs past the end of its message (byte 0)"))
        }
    }
}
