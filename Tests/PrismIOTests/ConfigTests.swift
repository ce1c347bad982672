import Foundation
import PrismIO
import PrismTestSupport
import XCTest

final class ConfigTests: XCTestCase {
    struct Inner: Decodable { let hiddenSize: Int; enum CodingKeys: String, CodingKey { case hiddenSize = "hidden_size" } }
    struct Outer: Decodable { let visionConfig: Inner; enum CodingKeys: String, CodingKey { case visionConfig = "vision_config" } }

    private func write(_ s: String) throws -> URL {
        let url = temporaryDirectory().appendingPathComponent("config.json")
        try s.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testDecodesNestedConfig() throws {
        XCTAssertEqual(try JSONConfig.load(Outer.self, from: try write(#"{"vision_config": {"hidden_size": 8}}"#)).visionConfig.hiddenSize, 8)
    }

    func testErrorsNameFileAndKeyPath() throws {
        let missing = try write(#"{"vision_config": {}}"#)
        assertThrowsMessage("\(missing.path): missing key 'vision_config.hidden_size'") { try JSONConfig.load(Outer.self, from: missing) }
        let wrong = try write(#"{"vision_config": {"hidden_size": "big"}}"#)
        assertThrowsMessage("\(wrong.path): key 'vision_config.hidden_size' should be Int") { try JSONConfig.load(Outer.self, from: wrong) }
        let broken = try write("{not json")
        XCTAssertThrowsError(try JSONConfig.load(Outer.self, from: broken)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(broken.path): not valid JSON"), "\(error)")
        }
        assertThrowsMessage("/nope/config.json: file not found") { try JSONConfig.load(Outer.self, from: URL(fileURLWithPath: "/nope/config.json")) }
    }
}
