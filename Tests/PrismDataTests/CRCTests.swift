import XCTest
@testable import PrismData

final class CRCTests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        // iSCSI test vectors (RFC 3720 B.4).
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0 ..< 32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0 ..< 32).map { UInt8(31 - $0) }), 0x113F_DB5C)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
    }

    func testPortablePathMatchesKnownVectors() {
        Array("123456789".utf8).withUnsafeBytes { XCTAssertEqual(CRC32C.portableChecksum($0), 0xE306_9283) }
        [UInt8](repeating: 0xFF, count: 32).withUnsafeBytes { XCTAssertEqual(CRC32C.portableChecksum($0), 0x62A8_AB43) }
    }

    func testHardwareAndPortableAgreeOnManyLengthsAndAlignments() {
        let data = pseudoRandomBytes(5000)
        data.withUnsafeBytes { all in
            for start in 0 ..< 9 {
                for length in [0, 1, 2, 3, 7, 8, 9, 15, 16, 31, 63, 64, 65, 127, 200, 1000, 4096, 4991 - start] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start ..< start + length])
                    XCTAssertEqual(CRC32C.checksum(slice), CRC32C.portableChecksum(slice), "start \(start) length \(length)")
                }
            }
        }
    }

    func testExtendEqualsOneShot() {
        let data = pseudoRandomBytes(1000)
        data.withUnsafeBytes { all in
            let whole = CRC32C.checksum(all)
            for split in [1, 7, 64, 500, 999] {
                let first = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[0 ..< split]))
                XCTAssertEqual(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[split...]), extending: first), whole)
                let firstPortable = CRC32C.portableChecksum(UnsafeRawBufferPointer(rebasing: all[0 ..< split]))
                XCTAssertEqual(CRC32C.portableChecksum(UnsafeRawBufferPointer(rebasing: all[split...]), extending: firstPortable), whole)
            }
        }
    }

    func testMaskAndUnmask() {
        // TensorFlow's crc32c::Mask of crc32c("123456789"): rotate right 15, add 0xA282EAD8.
        let crc: UInt32 = 0xE306_9283
        XCTAssertEqual(CRC32C.mask(crc), ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
        for value in [UInt32(0), 1, 0xFFFF_FFFF, crc, 0x8000_0000, 0x1234_5678] {
            XCTAssertEqual(CRC32C.unmask(CRC32C.mask(value)), value)
            XCTAssertNotEqual(CRC32C.mask(value), value)
        }
    }
}
