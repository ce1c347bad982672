import Foundation
import PrismCore
import PrismIO
import PrismTestSupport
import PrismTokenizer
@testable import PrismVLM
import XCTest

/// A random Kimi-VL in the official layout with dimensions where every GGUF block type of the Q4_K_M mixture
/// occurs (rows of 256 for Q4_K / Q6_K, of 32 for the fallbacks), written as bf16 safetensors with the
/// embedded model's tokenizer, then quantised by Prism.
enum RandomKimiVL {
    static let config = """
    {"architectures": ["KimiVLForConditionalGeneration"], "model_type": "kimi_vl", "media_placeholder_token_id": 1462,
     "pad_token_id": 0,
     "vision_config": {"patch_size": 14, "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "intermediate_size": 128, "init_pos_emb_height": 4, "init_pos_emb_width": 4, "merge_kernel_size": [2, 2]},
     "text_config": {"vocab_size": 1697, "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 256,
                     "num_hidden_layers": 3, "num_attention_heads": 2, "num_key_value_heads": 2, "kv_lora_rank": 256,
                     "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32, "n_routed_experts": 4,
                     "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1, "n_group": 1,
                     "topk_group": 1, "routed_scaling_factor": 2.446, "norm_topk_prob": true, "rope_theta": 800000.0,
                     "rms_norm_eps": 1e-5, "max_position_embeddings": 4096, "bos_token_id": 1441, "eos_token_id": 1442}}
    """

    /// Official names and shapes for `config` (as Tools/make_random_checkpoint.py's tensor_specs).
    static func specs(_ c: KimiVLConfig) -> [(String, [Int])] {
        let v = c.visionConfig, t = c.textConfig
        let d = v.hiddenSize, p = v.patchSize, m = d * 4
        var out: [(String, [Int])] = [("vision_tower.patch_embed.proj.weight", [d, 3, p, p]), ("vision_tower.patch_embed.proj.bias", [d]),
                                      ("vision_tower.patch_embed.pos_emb.weight", [v.initPosEmbHeight, v.initPosEmbWidth, d])]
        for i in 0..<v.numHiddenLayers {
            let b = "vision_tower.encoder.blocks.\(i)."
            out += [(b + "norm0.weight", [d]), (b + "norm0.bias", [d]), (b + "wqkv.weight", [3 * d, d]), (b + "wqkv.bias", [3 * d]),
                    (b + "wo.weight", [d, d]), (b + "wo.bias", [d]), (b + "norm1.weight", [d]), (b + "norm1.bias", [d]),
                    (b + "mlp.fc0.weight", [v.intermediateSize, d]), (b + "mlp.fc0.bias", [v.intermediateSize]),
                    (b + "mlp.fc1.weight", [d, v.intermediateSize]), (b + "mlp.fc1.bias", [d])]
        }
        out += [("vision_tower.encoder.final_layernorm.weight", [d]), ("vision_tower.encoder.final_layernorm.bias", [d]),
                ("multi_modal_projector.pre_norm.weight", [d]), ("multi_modal_projector.pre_norm.bias", [d]),
                ("multi_modal_projector.linear_1.weight", [m, m]), ("multi_modal_projector.linear_1.bias", [m]),
                ("multi_modal_projector.linear_2.weight", [t.hiddenSize, m]), ("multi_modal_projector.linear_2.bias", [t.hiddenSize])]
        let h = t.numAttentionHeads, td = t.hiddenSize, r = t.kvLoraRank, nope = t.qkNopeHeadDim, rope = t.qkRopeHeadDim, dv = t.vHeadDim
        let lm = "language_model.model."
        out.append((lm + "embed_tokens.weight", [t.vocabSize, td]))
        for i in 0..<t.numHiddenLayers {
            let b = "\(lm)layers.\(i)."
            out += [(b + "input_layernorm.weight", [td]), (b + "self_attn.q_proj.weight", [h * (nope + rope), td]),
                    (b + "self_attn.kv_a_proj_with_mqa.weight", [r + rope, td]), (b + "self_attn.kv_a_layernorm.weight", [r]),
                    (b + "self_attn.kv_b_proj.weight", [h * (nope + dv), r]), (b + "self_attn.o_proj.weight", [td, h * dv]),
                    (b + "post_attention_layernorm.weight", [td])]
            if !t.isMoE(layer: i) {
                out += [(b + "mlp.gate_proj.weight", [t.intermediateSize, td]), (b + "mlp.up_proj.weight", [t.intermediateSize, td]),
                        (b + "mlp.down_proj.weight", [td, t.intermediateSize])]
                continue
            }
            let f = t.moeIntermediateSize
            out += [(b + "mlp.gate.weight", [t.nRoutedExperts, td]), (b + "mlp.gate.e_score_correction_bias", [t.nRoutedExperts])]
            for e in 0..<t.nRoutedExperts {
                out += [(b + "mlp.experts.\(e).gate_proj.weight", [f, td]), (b + "mlp.experts.\(e).up_proj.weight", [f, td]),
                        (b + "mlp.experts.\(e).down_proj.weight", [td, f])]
            }
            let s = f * t.nSharedExperts
            out += [(b + "mlp.shared_experts.gate_proj.weight", [s, td]), (b + "mlp.shared_experts.up_proj.weight", [s, td]),
                    (b + "mlp.shared_experts.down_proj.weight", [td, s])]
        }
        out += [(lm + "norm.weight", [td]), ("language_model.lm_head.weight", [t.vocabSize, td])]
        return out
    }

    /// The checkpoint directory (written once per test process).
    static let directory: URL = {
        let dir = temporaryDirectory("prism-gguf-random")
        try! Data(config.utf8).write(to: dir.appendingPathComponent("config.json"))
        let weights = ProjectPaths.locate("Weights/prism-vl-tiny")!
        for f in ["tiktoken.model", "tokenizer_config.json"] {
            try! FileManager.default.copyItem(at: weights.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        let c = try! JSONConfig.decode(KimiVLConfig.self, from: Data(config.utf8), path: "config")
        var rng = SplitMix64(seed: 14)
        let tensors: [(name: String, tensor: Tensor)] = specs(c).map { name, shape in
            let n = shape.reduce(1, *)
            let norm = name.hasSuffix("norm.weight") || name.hasSuffix("norm0.weight") || name.hasSuffix("norm1.weight")
            let (mean, std): (Float, Float) = norm ? (1, 0.05) : name.contains("embed") || name.contains("pos_emb") ? (0, 0.5)
                : name.hasSuffix(".bias") || name.hasSuffix("_bias") ? (0, 0.01) : (0, 0.02)
            // uniform with the standard deviations of Tools/make_random_checkpoint.py
            let data = (0..<n).map { _ in mean + std * 1.732 * Float(rng.nextUnit() * 2 - 1) }
            return (name, Tensor(shape: shape, data: data))
        }
        try! SafetensorsWriter.write(to: dir.appendingPathComponent("model.safetensors"), tensors: tensors, dtype: .bf16)
        return dir
    }()

    static var exports: [GGUFFileType: KimiVLGGUFExport.Result] = [:]
    static let lock = NSLock()

    static func export(_ type: GGUFFileType) throws -> KimiVLGGUFExport.Result {
        lock.lock(); defer { lock.unlock() }
        if let r = exports[type] { return r }
        let r = try KimiVLGGUFExport.write(checkpoint: directory, to: directory.appendingPathComponent("gguf"), type: type)
        exports[type] = r
        return r
    }
}

final class GGUFExportTests: XCTestCase {
    func load(_ type: GGUFFileType) throws -> KimiVL {
        let r = try RandomKimiVL.export(type)
        return try KimiVL.load(gguf: r.text, mmproj: r.mmproj)
    }

    /// The bf16 GGUF pair holds exactly the checkpoint's values in llama.cpp's layout (split kv_b, stacked
    /// experts, split wqkv, flattened positions): logits equal the safetensors model's for text and image prompts.
    func testBF16RoundTripMatchesCheckpoint() throws {
        let ref = try KimiVL.load(directory: RandomKimiVL.directory)
        let g = try load(.bf16)
        XCTAssertEqual(g.textConfig, ref.textConfig)
        XCTAssertEqual(g.visionConfig.map { [$0.hiddenSize, $0.numHiddenLayers, $0.initPosEmbHeight, $0.initPosEmbWidth, $0.intermediateSize] },
                       [64, 1, 4, 4, 128])
        XCTAssertEqual(g.mediaPadId, 1462)
        XCTAssertTrue(g.weightsSummary.hasPrefix("BF16 GGUF"), g.weightsSummary)
        let pixels = (0..<(56 * 56 * 3)).map { UInt8(($0 * 37) % 251) }
        let img = try ref.imageProcessor(RGBImage(width: 56, height: 56, pixels: pixels))
        let prompt = Prompt(tokens: [5, 6] + Array(repeating: 1462, count: img.tokenCount) + [7, 8, 9], images: [img])
        for (a, b) in [(ref, g)] {
            let la = try a.prefill(prompt, cache: a.newCache()), lb = try b.prefill(prompt, cache: b.newCache())
            XCTAssertLessThan(Tensor(shape: [la.count], data: la).maxAbsDifference(Tensor(shape: [lb.count], data: lb)), 1e-4)
        }
    }

    /// Q8_0 logits stay within 1e-2 (relative to the largest logit) of the bf16 checkpoint's on a prompt and
    /// while decoding.
    func testQ8LogitsCloseToBF16() throws {
        let ref = try KimiVL.load(directory: RandomKimiVL.directory), q = try load(.q8_0)
        let ca = ref.newCache(), cb = q.newCache()
        var a = try ref.prefill(Prompt(tokens: [11, 12, 13, 14, 15, 16]), cache: ca)
        var b = try q.prefill(Prompt(tokens: [11, 12, 13, 14, 15, 16]), cache: cb)
        for step in 0..<8 {
            let scale = a.map(abs).max()!
            let diff = zip(a, b).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(diff, 0, "the quantised model is a different model")
            let l2 = (zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / a.map { $0 * $0 }.reduce(0, +)).squareRoot()
            print("Q8_0 step \(step): max|Δ|/max|ref| \(diff / scale), L2 relative \(l2), max|ref| \(scale)")
            XCTAssertLessThan(diff / scale, 1e-2, "step \(step)")
            a[ref.mediaPadId] = -.infinity
            let next = a.indices.max { a[$0] < a[$1] }!
            a = try ref.decode(token: next, cache: ca)
            b = try q.decode(token: next, cache: cb)
        }
    }

    /// Over 256 greedy steps (both models fed the bf16 model's tokens), the top-1 token agrees on ≥ 99 % of the
    /// steps with a clear margin for Q8_0 and ≥ 90 % for Q4_K_M.
    func testGreedyTopOneAgreement() throws {
        let ref = try KimiVL.load(directory: RandomKimiVL.directory)
        for (type, required) in [(GGUFFileType.q8_0, 0.99), (.q4_k_m, 0.90)] {
            let q = try load(type)
            let ca = ref.newCache(), cb = q.newCache()
            var a = try ref.prefill(Prompt(tokens: [3, 1, 4, 1, 5]), cache: ca)
            var b = try q.prefill(Prompt(tokens: [3, 1, 4, 1, 5]), cache: cb)
            var clear = 0, agree = 0
            for _ in 0..<256 {
                // the image placeholder is never a text token
                a[ref.mediaPadId] = -.infinity; b[q.mediaPadId] = -.infinity
                let order = a.indices.sorted { a[$0] > a[$1] }
                let spread = a.max()! - a.filter { $0.isFinite }.min()!
                // a clear margin: the reference's top two differ by at least 2 % of its logit range
                if a[order[0]] - a[order[1]] >= 0.02 * spread {
                    clear += 1
                    if b.indices.max(by: { b[$0] < b[$1] })! == order[0] { agree += 1 }
                }
                a = try ref.decode(token: order[0], cache: ca)
                b = try q.decode(token: order[0], cache: cb)
            }
            XCTAssertGreaterThan(clear, 64, "\(type): too few clear steps to judge")
            let rate = Double(agree) / Double(clear)
            print("\(type.displayName): top-1 agreement \(agree)/\(clear) clear-margin steps = \(rate)")
            XCTAssertGreaterThanOrEqual(rate, required, type.displayName)
        }
    }

    /// Per-tensor types follow llama.cpp's rules for this shape: F32 norms, router and biases; Q4_K_M's Q6_K
    /// output and last-layer ffn_down, Q5_0 where rows are not whole 256-blocks; the mmproj in Q8_0 with F32
    /// patch and position embeddings.
    func testTensorTypesFollowLlamaCppRules() throws {
        let r = try RandomKimiVL.export(.q4_k_m)
        let f = try GGUFFile(path: r.text.path), mm = try GGUFFile(path: r.mmproj!.path)
        func type(_ n: String, _ file: GGUFFile) -> String? { file.info(n)?.dtype.rawValue }
        XCTAssertEqual(type("token_embd.weight", f), "Q4_K")
        XCTAssertEqual(type("output.weight", f), "Q6_K")
        XCTAssertEqual(type("output_norm.weight", f), "F32")
        XCTAssertEqual(type("blk.0.ffn_down.weight", f), "Q4_K")        // use_more_bits(0, 3) is false
        XCTAssertEqual(type("blk.1.ffn_down_exps.weight", f), "Q4_K")
        XCTAssertEqual(type("blk.2.ffn_down_exps.weight", f), "Q6_K")   // use_more_bits(2, 3)
        XCTAssertEqual(type("blk.1.ffn_gate_exps.weight", f), "Q4_K")
        XCTAssertEqual(type("blk.1.ffn_gate_inp.weight", f), "F32")
        XCTAssertEqual(type("blk.1.exp_probs_b.bias", f), "F32")
        XCTAssertEqual(type("blk.1.attn_k_b.weight", f), "Q5_0")        // rows of 32: Q4_K → Q5_0
        XCTAssertEqual(type("blk.1.attn_v_b.weight", f), "Q4_K")
        XCTAssertEqual(type("blk.1.attn_output.weight", f), "Q5_0")     // rows of 64
        XCTAssertEqual(type("blk.1.attn_kv_a_norm.weight", f), "F32")
        XCTAssertEqual(f.info("blk.1.attn_k_b.weight")?.shape, [2, 256, 32])
        XCTAssertEqual(f.info("blk.1.attn_v_b.weight")?.shape, [2, 32, 256])
        XCTAssertEqual(f.info("blk.1.ffn_up_exps.weight")?.shape, [4, 256, 256])
        XCTAssertEqual(try f.int("general.file_type"), 15)
        XCTAssertEqual(try f.int("deepseek2.attention.head_count_kv"), 1)
        // 3 blocks: llama.cpp would expect q_lora_rank unless told it is 0 (it infers none only for 26 / 27 blocks)
        XCTAssertEqual(try f.int("deepseek2.attention.q_lora_rank"), 0)
        XCTAssertEqual(try f.string("tokenizer.ggml.pre"), "kimi-k2")
        XCTAssertEqual(type("v.patch_embd.weight", mm), "F32")
        XCTAssertEqual(type("v.position_embd.weight", mm), "F32")
        XCTAssertEqual(mm.info("v.position_embd.weight")?.shape, [16, 64])
        XCTAssertEqual(type("v.blk.0.attn_q.weight", mm), "Q8_0")
        XCTAssertEqual(type("v.blk.0.attn_q.bias", mm), "F32")
        XCTAssertEqual(type("mm.1.weight", mm), "Q8_0")
        XCTAssertEqual(try mm.string("clip.projector_type"), "kimivl")
    }

    /// The tokenizer rebuilt from GGUF metadata gives the same ids as the tiktoken.model path.
    func testTokenizerFromGGUFMatchesTikToken() throws {
        let r = try RandomKimiVL.export(.q8_0)
        let fromGGUF = try TikTokenizer(gguf: GGUFFile(path: r.text.path))
        let reference = try TikTokenizer(directory: RandomKimiVL.directory)
        for text in ["Hello, world!", "  spaces\tand\nnewlines  ", "<|im_user|>user<|im_middle|>What is 2+2?<|im_end|>",
                     "numbers 1234567 and ünïcödé ✓", "<|media_start|>image<|media_content|><|media_pad|><|media_end|>"] {
            let ids = reference.encode(text)
            XCTAssertEqual(fromGGUF.encode(text), ids, text)
        }
    }

    /// Loading checks the files against the config: a mis-shaped tensor is named with the file.
    func testMisShapedTensorIsNamed() throws {
        let r = try RandomKimiVL.export(.q8_0)
        let src = try GGUFFile(path: r.text.path)
        let dir = temporaryDirectory()
        let bad = dir.appendingPathComponent("bad.gguf")
        let specs = src.tensors.map { t in
            t.name == "blk.1.attn_q.weight" ? GGUFWriter.TensorSpec(t.name, .q8_0, [t.shape[0] - 1, t.shape[1]]) : GGUFWriter.TensorSpec(t.name, t.dtype, t.shape)
        }
        try GGUFWriter.write(to: bad, metadata: src.keys.map { ($0, src.metadata[$0]!) }, tensors: specs) { i, emit in
            let v = try src.view(src.tensors[i].name)
            try emit(UnsafeRawBufferPointer(rebasing: v.bytes[0..<specs[i].byteCount]))
        }
        assertThrowsMessage("\(bad.path): 1 weight problem: model.layers.1.self_attn.q_proj.weight: expected shape [96, 256], checkpoint has [95, 256]") {
            try KimiVL.load(gguf: bad)
        }
    }
}
