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
        assertThrowsMessage("\(dir.path)/model.safetensors: 3 weight problems: missing model.layers.1.mlp.experts.3.up_proj.weight; "
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

    /// The full Kimi-VL-A3B layout (names, dtypes, shapes of specs/kimi_vl.md §2, from
    /// `Tools/make_random_checkpoint.py --preset full --manifest`) binds exactly: every tensor is asked for
    /// once with its shape and none is left over. The 32.8 GB checkpoint is a sparse file (header only).
    func testFullKimiVLManifestBindsExactly() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("kimivl_a3b_manifest.json"))) as! [String: Any]
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try JSONSerialization.data(withJSONObject: manifest["config"]!).write(to: dir.appendingPathComponent("config.json"))
        try JSONSerialization.data(withJSONObject: manifest["preprocessor_config"]!)
            .write(to: dir.appendingPathComponent("preprocessor_config.json"))
        var entries: [String] = [], offset = 0
        for case let t as [Any] in manifest["tensors"] as! [Any] {
            let name = t[0] as! String, dtype = t[1] as! String, shape = t[2] as! [Int]
            let size = shape.reduce(1, *) * (dtype == "F32" ? 4 : 2)
            entries.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        XCTAssertEqual(entries.count, 5652)
        XCTAssertEqual(offset, 32_815_315_424, "16.41 B parameters, bf16")
        var header = Data(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        let file = dir.appendingPathComponent("model.safetensors")
        var n = UInt64(header.count).littleEndian
        try (Data(bytes: &n, count: 8) + header).write(to: file)
        let h = try FileHandle(forWritingTo: file)
        try h.truncate(atOffset: UInt64(8 + header.count + offset))   // sparse: no data blocks written
        try h.close()

        let m = try KimiVL.load(directory: dir)
        XCTAssertEqual(m.textConfig.numHiddenLayers, 27)
        XCTAssertEqual(m.textConfig.kvLoraRank, 512)
        XCTAssertEqual(m.visionConfig?.hiddenSize, 1152)
        XCTAssertEqual(m.mediaPadId, 163605)
        XCTAssertEqual(m.imageProcessor.config, .kimiVL)
        XCTAssertEqual(m.decoder.lmHead.dtype, .bf16)
        XCTAssertEqual(m.decoder.layers.filter { if case .moe = $0.ffn { return true } else { return false } }.count, 26)
    }
}
