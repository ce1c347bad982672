import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
@testable import PrismVLM
import XCTest

final class RemapTests: XCTestCase {
    func testRules() {
        XCTAssertEqual(KimiVLRemap.modelName("language_model.model.layers.3.mlp.gate.weight"), "model.layers.3.mlp.gate.weight")
        XCTAssertEqual(KimiVLRemap.modelName("language_model.lm_head.weight"), "lm_head.weight")
        XCTAssertEqual(KimiVLRemap.modelName("model.norm.weight"), "model.norm.weight")
        XCTAssertEqual(KimiVLRemap.modelName("vision_tower.encoder.blocks.0.wqkv.weight"), "vision_tower.encoder.blocks.0.wqkv.weight")
        XCTAssertNil(KimiVLRemap.modelName("language_model.model.layers.0.self_attn.rotary_emb.inv_freq"))
    }

    /// Copies the tiny DeepseekV3 checkpoint under the official `language_model.` prefix with one tensor
    /// missing, one extra and one mis-shaped (plus an inv_freq buffer that must be ignored): one error lists all.
    func testLoaderReportsEveryProblemAtOnce() throws {
        let src = try Checkpoint(directory: fixtureURL("deepseek_tiny"))
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: fixtureURL("deepseek_tiny").appendingPathComponent("config.json"),
                                         to: dir.appendingPathComponent("config.json"))
        var tensors: [(name: String, tensor: Tensor)] = []
        for n in src.names where n != "model.layers.1.mlp.experts.3.up_proj.weight" {
            var t = try src.view(n).toTensor()
            if n == "model.norm.weight" { t = Tensor(zeros: [65]) }
            tensors.append(("language_model." + n, t))
        }
        tensors.append(("language_model.model.layers.0.mlp.extra.weight", Tensor(zeros: [2])))
        tensors.append(("language_model.model.layers.0.self_attn.rotary_emb.inv_freq", Tensor(zeros: [4])))
        try SafetensorsWriter.write(to: dir.appendingPathComponent("model.safetensors"), tensors: tensors, dtype: .bf16)
        assertThrowsMessage("\(dir.path): 3 weight problems: missing model.layers.1.mlp.experts.3.up_proj.weight; "
                            + "model.norm.weight: expected shape [64], checkpoint has [65]; "
                            + "unexpected model.layers.0.mlp.extra.weight") {
            try KimiVL.load(directory: dir)
        }
    }

    /// The same checkpoint under `language_model.` in bf16 loads cleanly and stays bf16 (memory-mapped).
    func testOfficialPrefixLoadsInCheckpointDtype() throws {
        let src = try Checkpoint(directory: fixtureURL("deepseek_tiny"))
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: fixtureURL("deepseek_tiny").appendingPathComponent("config.json"),
                                         to: dir.appendingPathComponent("config.json"))
        let tensors = try src.names.map { ("language_model." + $0, try src.view($0).toTensor()) }
        try SafetensorsWriter.write(to: dir.appendingPathComponent("model.safetensors"), tensors: tensors, dtype: .bf16)
        let m = try KimiVL.load(directory: dir)
        XCTAssertEqual(m.decoder.lmHead.dtype, .bf16)
        XCTAssertNil(m.vision)
        let logits = try m.prefill(Prompt(tokens: [5, 17, 33]), cache: m.newCache())
        XCTAssertEqual(logits.count, 96)
    }

    func testConfigErrorsNameTheKey() {
        let json = #"{"q_lora_rank": 1536}"#
        assertThrowsMessage("c.json: key 'q_lora_rank': only null (plain q_proj) is supported") {
            try JSONConfig.decode(TextConfig.self, from: Data(json.utf8), path: "c.json")
        }
        assertThrowsMessage("c.json: key 'scoring_func': Cannot initialize ScoringFunction from invalid String value sigmoidd") {
            try JSONConfig.decode(TextConfig.self, from: Data(#"{"scoring_func": "sigmoidd"}"#.utf8), path: "c.json")
        }
    }
}
