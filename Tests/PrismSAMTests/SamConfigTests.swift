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

    /// Issue #19: on main, hidden_size 192000 tried to allocate 442 GB of zeros and num_point_embeddings -4 made
    /// an invalid Range; both are now one-line errors at decode, naming the file and key.
    func testSizesAreRangeCheckedAtDecode() {
        func decode(_ part: String, _ body: String) throws -> SamConfig {
            var parts = ["vision_config": "{}", "prompt_encoder_config": "{}", "mask_decoder_config": "{}"]
            parts[part] = body
            let json = "{" + parts.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
            return try JSONConfig.decode(SamConfig.self, from: Data(json.utf8), path: "config.json")
        }
        assertThrowsMessage("config.json: key 'vision_config.hidden_size': must be in 1…8192, got 192000") {
            try decode("vision_config", #"{"hidden_size": 192000}"#)
        }
        assertThrowsMessage("config.json: key 'prompt_encoder_config.num_point_embeddings': must be in 4…4, got -4") {
            try decode("prompt_encoder_config", #"{"num_point_embeddings": -4}"#)
        }
        assertThrowsMessage("config.json: key 'mask_decoder_config.attention_downsample_rate': must be in 1…64, got 0") {
            try decode("mask_decoder_config", #"{"attention_downsample_rate": 0}"#)
        }
        assertThrowsMessage("config.json: key 'vision_config.layer_norm_eps': must be a finite number > 0, got 0.0") {
            try decode("vision_config", #"{"layer_norm_eps": 0}"#)
        }
        assertThrowsMessage("config.json: key 'vision_config.mlp_ratio': must be a number in (0, 64], got -1.0") {
            try decode("vision_config", #"{"mlp_ratio": -1}"#)
        }
    }

    func testCrossPartChecksNameTheKey() throws {
        let json = #"{"vision_config": {"window_size": 100}, "prompt_encoder_config": {}, "mask_decoder_config": {}}"#
        let c = try JSONConfig.decode(SamConfig.self, from: Data(json.utf8), path: "config.json")
        assertThrowsMessage("config.json: key 'vision_config.window_size': 100 is larger than the 64×64 token grid") {
            try c.validate(path: "config.json")
        }
        let big = #"{"vision_config": {"hidden_size": 8192, "image_size": 4096, "num_attention_heads": 16}, "prompt_encoder_config": {}, "mask_decoder_config": {}}"#
        let b = try JSONConfig.decode(SamConfig.self, from: Data(big.utf8), path: "config.json")
        assertThrowsMessage("config.json: key 'vision_config.image_size': position table 256×256×8192 is too large") {
            try b.validate(path: "config.json")
        }
    }
}
