// tf.Example decoding, on hand-made wire bytes for the cases of spec §3 and §6.
import XCTest
@testable import PrismData

final class ExampleTests: XCTestCase {
    func int64List(_ values: [Int64], packed: Bool) -> [UInt8] {
        packed ? field(1, values.flatMap { varint(UInt64(bitPattern: $0)) })
               : values.flatMap { varintField(1, UInt64(bitPattern: $0)) }
    }

    func floatList(_ values: [Float], packed: Bool) -> [UInt8] {
        packed ? field(1, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } })
               : values.flatMap { fixed32Field(1, $0) }
    }

    func testRoundTripOfEveryKind() throws {
        let example = Example([
            "bytes": .bytes([[], [0, 255], Array("text".utf8)]),
            "floats": .floats([0, -0.0, 1.5, .greatestFiniteMagnitude, .leastNonzeroMagnitude]),
            "ints": .int64s([0, -1, .max, .min]),
            "empty": .int64s([]),
        ])
        XCTAssertEqual(try Example(serialized: example.serialized()), example)
        XCTAssertEqual(try Example(serialized: Example().serialized()), Example())
    }

    func testSerializationIsDeterministic() {
        var a = Example(), b = Example()
        for i in 0 ..< 20 { a["k\(i)"] = .int64s([Int64(i)]) }
        for i in (0 ..< 20).reversed() { b["k\(i)"] = .int64s([Int64(i)]) }
        XCTAssertEqual(a.serialized(), b.serialized())
    }

    func testPackedAndUnpackedNumbersDecodeAlike() throws {
        let values: [Int64] = [1, -2, 300, .min]
        let floats: [Float] = [0.5, -1, 3e10]
        for packed in [true, false] {
            let bytes = exampleBytes([("i", field(3, int64List(values, packed: packed))),
                                      ("f", field(2, floatList(floats, packed: packed)))])
            XCTAssertEqual(try Example(serialized: bytes), Example(["i": .int64s(values), "f": .floats(floats)]), "packed \(packed)")
        }
    }

    func testNegativeInt64TakesTenBytes() {
        let bytes = Example(["n": .int64s([-1])]).serialized()
        XCTAssertEqual(bytes.suffix(10), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }

    func testUnknownFieldsAreSkipped() throws {
        // Unknown fields at every level: Example (field 9), Features (5), entry (7), Feature (8), Int64List (4).
        let list = int64List([7], packed: true) + varintField(4, 99)
        let feature = field(3, list) + field(8, Array("future".utf8))
        let entry = field(1, Array("label".utf8)) + field(2, feature) + varintField(7, 1)
        let bytes = field(1, field(1, entry) + fixed32Field(5, 1)) + varintField(9, 123456)
        XCTAssertEqual(try Example(serialized: bytes), Example(["label": .int64s([7])]))
    }

    func testFeatureWithTwoKindsTakesTheLastOne() throws {
        let feature = field(1, field(1, Array("x".utf8))) + field(2, floatList([2], packed: true))
        XCTAssertEqual(try Example(serialized: exampleBytes([("k", feature)])), Example(["k": .floats([2])]))
    }

    func testRepeatedKeyTakesTheLastValue() throws {
        let bytes = exampleBytes([("k", field(3, int64List([1], packed: true))), ("k", field(3, int64List([2], packed: true)))])
        XCTAssertEqual(try Example(serialized: bytes), Example(["k": .int64s([2])]))
    }

    func testMapEntryWithMissingKeyOrValue() throws {
        let noKey = field(1, field(1, field(2, field(3, int64List([5], packed: true)))))
        XCTAssertEqual(try Example(serialized: noKey), Example(["": .int64s([5])]))
        let noValue = field(1, field(1, field(1, Array("k".utf8))))
        XCTAssertEqual(try Example(serialized: noValue), Example(["k": .bytes([])]))
        let noKind = exampleBytes([("k", [])])
        XCTAssertEqual(try Example(serialized: noKind), Example(["k": .bytes([])]))
    }

    func testInvalidProtobufIsATypedErrorNamingTheByte() {
        let entry = field(1, Array("k".utf8))
        let cases: [([UInt8], String)] = [
            ([0xFF, 0xFF, 0xFF, 0xFF], "invalid field tag (byte 0)"),
            ([0x0A, 100, 0x0A, 0x01], "Example.features runs past the end of its message (byte 0)"),
            ([0x18, 0x80], "unknown field runs past the end of its message (byte 0)"),            // truncated varint
            (varintField(1, 5), "Example.features has wire type 0 (byte 0)"),
            ([0x1C], "unsupported wire type 4 (byte 0)"),                                          // end-group
            ([0x0C], "Example.features has wire type 4 (byte 0)"),
            // Example.features (bytes 0-1), FeatureEntry (2-3), its key (4-6), its value (7-8), the list (9-10).
            (field(1, field(1, entry + field(2, field(2, field(1, [1, 2, 3]))))), "packed floats of 3 bytes, not a multiple of 4 (byte 11)"),
            (field(1, field(1, entry + field(2, field(3, [0x0D, 0, 0, 0, 0])))), "Int64List.value has wire type 5 (byte 11)"),
            (field(1, field(1, entry + field(2, field(3, field(1, [0x80]))))), "truncated varint in packed Int64List (byte 13)"),
            (field(1, field(1, entry + field(2, field(1, [0x08, 1])))), "BytesList.value has wire type 0 (byte 11)"),
            (field(1, field(1, entry + varintField(2, 1))), "FeatureEntry.value has wire type 0 (byte 7)"),
        ]
        for (bytes, reason) in cases {
            XCTAssertThrowsError(try Example(serialized: bytes), reason) { error in
                XCTAssertEqual(error as? TFRecordError, .invalidExample(nil, reason: reason))
            }
            // protobuf-c, the reference, refuses each of them too.
            XCTAssertThrowsError(try bytes.withUnsafeBytes { try ProtoCodec.referenceExample($0) }, reason)
        }
    }

    func testInvalidUTF8KeyIsRejected() {
        let bytes = field(1, field(1, field(1, [0x66, 0xFF, 0xFE]) + field(2, field(3, int64List([1], packed: true)))))
        XCTAssertThrowsError(try Example(serialized: bytes)) { error in
            guard case .invalidExample(nil, _) = error as? TFRecordError else { return XCTFail("\(error)") }
        }
    }

    func testManyFeatures() throws {
        var example = Example()
        for i in 0 ..< 10000 { example["feature/\(i)"] = .floats([Float(i)]) }
        XCTAssertEqual(try Example(serialized: example.serialized()), example)
    }
}
