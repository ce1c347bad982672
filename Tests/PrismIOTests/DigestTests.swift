import Foundation
import PrismIO
import XCTest

final class DigestTests: XCTestCase {
    /// FIPS 180-2 test vectors, as `sha256sum` prints them.
    func testSHA256MatchesTheStandardVectors() {
        XCTAssertEqual(ContentDigest(of: Data("abc".utf8)).description, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(ContentDigest(of: Data()).description, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(ContentDigest(of: Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).description,
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertNotEqual(ContentDigest(of: Data("abc".utf8)), ContentDigest(of: Data("abd".utf8)))
        XCTAssertEqual(Set([ContentDigest(of: Data("x".utf8)), ContentDigest(of: Data("x".utf8))]).count, 1)
    }
}
