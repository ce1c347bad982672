import Foundation
import PrismIO
@testable import PrismSAM
import PrismTestSupport
import XCTest

final class SamConfigTests: XCTestCase {
    func testReadsTheTinyConfig() throws {
        let c = try SamConfig.load(directory: TinySam.directory)
        XCTAssertEqual(c.visionConfig.hiddenSize, 48)
        XCTAssertEqual(c.visionConfig.gridSize, 10)
        XCTAssertEqual(c.visionConfig.globalAttnIndexes, [1])
        XCTAssertEqual(c.visionConfig.windowSize(layer: 1), 0)
        XCTAssertEqual(c.visionConfig.windowSize(layer: 2), 4)
        XCTAssertEqual(c.visionConfig.mlpDim, 96)
        XCTAssertEqual(c.promptEncoderConfig.maskInputSize, 40)
        XCTAssertEqual(c.maskDecoderConfig.numMaskTokens, 4)
        XCTAssertEqual(c.maskDecoderConfig.layerNormEps, 1e-6)
    }

    func testEmptyPartsDecodeToViTBDefaults() throws {
        let json = #"{"vision_config": {}, "prompt_encoder_config": {}, "mask_decoder_config": {}}"#
        let c = try JSONConfig.decode(SamConfig.self, from: Data(json.utf8), path: "config.json")
        try c.validate(path: "config.json")
        XCTAssertEqual(c.visionConfig.hiddenSize, 768)
        XCTAssertEqual(c.visionConfig.mlpDim, 3072)
        XCTAssertEqual(c.visionConfig.globalAttnIndexes, [2, 5, 8, 11])
        XCTAssertEqual(c.visionConfig.gridSize, 64)
        XCTAssertEqual(c.maskDecoderConfig.mlpDim, 2048)
        XCTAssertEqual(c.maskDecoderConfig.hiddenAct, .relu)
    }

    func testMismatchedPartsAreOneLineErrors() throws {
        let json = #"{"vision_config": {"output_channels": 128}, "prompt_encoder_config": {}, "mask_decoder_config": {}}"#
        let c = try JSONConfig.decode(SamConfig.self, from: Data(json.utf8), path: "config.json")
        assertThrowsMessage("config.json: key 'mask_decoder_config.hidden_size': 256 must equal vision output_channels 128 and prompt hidden_size 256") {
            try c.validate(path: "config.json")
        }
        let bad = #"{"vision_config": {"hidden_act": "swish"}, "prompt_encoder_config": {}, "mask_decoder_config": {}}"#
        XCTAssertThrowsError(try JSONConfig.decode(SamConfig.self, from: Data(bad.utf8), path: "config.json")) {
            XCTAssertTrue("\($0)".hasPrefix("config.json: key 'vision_config.hidden_act'"), "\($0)")
        }
    }
}
