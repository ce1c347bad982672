import Foundation
import PrismIO
import PrismTestSupport
@testable import PrismVLM
import XCTest

/// Config validation (issue #19): every size is checked before anything is allocated from it, errors name the file
/// and the full key, and the sizes tensor shapes come from are required.
final class ConfigTests: XCTestCase {
    /// kimivl_tiny's config.json as a dictionary, to edit one key at a time.
    func tinyConfig() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("kimivl_tiny/config.json"))) as! [String: Any]
    }

    func decode(_ config: [String: Any]) throws -> KimiVLConfig {
        try JSONConfig.decode(KimiVLConfig.self, from: JSONSerialization.data(withJSONObject: config), path: "config.json")
    }

    func with(_ part: String, _ key: String, _ value: Any) throws -> [String: Any] {
        var c = try tinyConfig()
        var p = c[part] as! [String: Any]
        p[key] = value
        c[part] = p
        return c
    }

    func testTextSizesAreRangeChecked() throws {
        XCTAssertNoThrow(try decode(tinyConfig()))
        // on main, v_head_dim -32 reached memset through Tensor(zeros:) (SIGSEGV in release)
        assertThrowsMessage("config.json: key 'text_config.v_head_dim': must be in 1…1024, got -32") {
            try self.decode(try self.with("text_config", "v_head_dim", -32))
        }
        assertThrowsMessage("config.json: key 'text_config.hidden_size': must be in 1…32768, got 2048000") {
            try self.decode(try self.with("text_config", "hidden_size", 2_048_000))
        }
        assertThrowsMessage("config.json: key 'text_config.qk_rope_head_dim': must be even (rotary pairs), got 7") {
            try self.decode(try self.with("text_config", "qk_rope_head_dim", 7))
        }
        assertThrowsMessage("config.json: key 'text_config.num_experts_per_tok': must be in 1…8, got 9") {
            try self.decode(try self.with("text_config", "num_experts_per_tok", 9))
        }
        assertThrowsMessage("config.json: key 'text_config.n_group': n_group 3 must divide n_routed_experts 8") {
            try self.decode(try self.with("text_config", "n_group", 3))
        }
        assertThrowsMessage("config.json: key 'text_config.rms_norm_eps': must be a finite number > 0, got -1.0") {
            try self.decode(try self.with("text_config", "rms_norm_eps", -1))
        }
        assertThrowsMessage("config.json: key 'text_config.rope_parameters': rope_theta must be a finite number > 0, got 0.0") {
            try self.decode(try self.with("text_config", "rope_parameters", ["rope_theta": 0, "rope_type": "default"]))
        }
    }

    func testSizesAreRequired() throws {
        var c = try tinyConfig()
        var t = c["text_config"] as! [String: Any]
        t["hidden_sizes"] = t.removeValue(forKey: "hidden_size")
        c["text_config"] = t
        assertThrowsMessage("config.json: missing key 'text_config.hidden_size'") { try self.decode(c) }
        c = try tinyConfig()
        var v = c["vision_config"] as! [String: Any]
        v.removeValue(forKey: "num_hidden_layers")
        c["vision_config"] = v
        assertThrowsMessage("config.json: missing key 'vision_config.num_hidden_layers'") { try self.decode(c) }
    }

    func testVisionSizesAreRangeChecked() throws {
        // on main, merge_kernel_size [2, 0] divided by zero in the processor and huge values overflowed
        assertThrowsMessage("config.json: key 'vision_config.merge_kernel_size': must be 2 integers in 1…8, got [2, 0]") {
            try self.decode(try self.with("vision_config", "merge_kernel_size", [2, 0]))
        }
        assertThrowsMessage("config.json: key 'vision_config.patch_size': must be in 1…32, got 1000000000000000000") {
            try self.decode(try self.with("vision_config", "patch_size", 1_000_000_000_000_000_000))
        }
        assertThrowsMessage("config.json: key 'vision_config.num_attention_heads': head dim 32/3 must be a multiple of 4 (2-D RoPE)") {
            try self.decode(try self.with("vision_config", "num_attention_heads", 3))
        }
    }

    func testPreprocessorValuesAreRangeChecked() {
        func decode(_ json: String) throws -> PreprocessorConfig {
            try JSONConfig.decode(PreprocessorConfig.self, from: Data(json.utf8), path: "preprocessor_config.json")
        }
        assertThrowsMessage("preprocessor_config.json: key 'merge_kernel_size': must be 2 integers in 1…8, got [2, 0]") {
            try decode(#"{"merge_kernel_size": [2, 0]}"#)
        }
        // on main, in_token_limit -1 made Int(NaN) in resizedSize
        assertThrowsMessage("preprocessor_config.json: key 'in_token_limit': must be in 1…85598, got -1") {
            try decode(#"{"in_token_limit": -1}"#)
        }
        // on main, patch_size 1e18 asked for a 1.1e19-byte tensor
        assertThrowsMessage("preprocessor_config.json: key 'patch_size': must be in 1…32, got 1000000000000000000") {
            try decode(#"{"patch_size": 1000000000000000000}"#)
        }
        assertThrowsMessage("preprocessor_config.json: key 'image_std': needs 3 finite values > 0, got [0.5, 0.0, 0.5]") {
            try decode(#"{"image_std": [0.5, 0, 0.5]}"#)
        }
        XCTAssertEqual(try decode("{}"), .kimiVL)
    }

    /// A shrunk image never becomes 0 pixels wide (main passed 0 to the resampler for very thin images).
    func testResizedSizeIsNeverEmpty() {
        var c = PreprocessorConfig.kimiVL
        c.inTokenLimit = 1
        let p = ImageProcessor(config: c)
        let (w, h) = p.resizedSize(width: 16000, height: 28)
        XCTAssertEqual(h, 1)
        XCTAssertGreaterThan(w, 0)
    }

    func directory(config: [String: Any], preprocessor: String? = nil) throws -> URL {
        let dir = temporaryDirectory()
        try FileManager.default.copyItem(at: fixtureURL("kimivl_tiny/model.safetensors"), to: dir.appendingPathComponent("model.safetensors"))
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        if let preprocessor { try Data(preprocessor.utf8).write(to: dir.appendingPathComponent("preprocessor_config.json")) }
        return dir
    }

    /// On main a misspelled `text_config` fell back to the full-size defaults and zero-filled every weight (6.7 GB
    /// and counting); now the key is named and nothing is built.
    func testMisspelledTextConfigIsAnError() throws {
        var c = try tinyConfig()
        c["text_confg"] = c.removeValue(forKey: "text_config")
        let dir = try directory(config: c)
        assertThrowsMessage("\(dir.path)/config.json: missing key 'text_config'") { try KimiVL.load(directory: dir) }
    }

    func testPreprocessorMustAgreeWithTheVisionTower() throws {
        let dir = try directory(config: try tinyConfig(), preprocessor: #"{"patch_size": 16}"#)
        assertThrowsMessage("\(dir.path)/preprocessor_config.json: key 'patch_size': 16 differs from vision_config.patch_size 14 in config.json") {
            try KimiVL.load(directory: dir)
        }
    }

    /// A valid config that does not match the checkpoint (every layer twice as wide) fails with every problem named
    /// and without materialising the missing weights (on main each one was zero-filled first).
    func testMismatchedConfigFailsWithoutZeroFilling() throws {
        let dir = try directory(config: try with("text_config", "num_hidden_layers", 200))
        XCTAssertThrowsError(try KimiVL.load(directory: dir)) { error in
            let e = error as! WeightLoader.LoadError
            XCTAssertEqual(e.source, dir.appendingPathComponent("model.safetensors").path)
            XCTAssertTrue(e.problems.contains { $0.description == "missing model.layers.199.mlp.experts.7.down_proj.weight" })
            XCTAssertTrue("\(e)".hasSuffix("more"), "\(e)")
        }
    }
}
