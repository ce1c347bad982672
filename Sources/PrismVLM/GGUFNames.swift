// Kimi-VL's tensor names in Prism (the official checkpoint's, after KimiVLRemap) and in llama.cpp's GGUF
// files, in one table used by both the GGUF loader and `prism quantize`. Facts from gguf-py's
// tensor_mapping.py and convert_hf_to_gguf.py (DeepseekV2Model for the text model, arch `deepseek2`;
// KimiVLModel for the vision `mmproj`, projector type `kimivl`). Layout changes the converter makes:
//  - kv_b_proj is split per head into k_b_proj (W_UK, transposed to [H, r, nope]) and v_b_proj ([H, dv, r]),
//    the absorbed-MLA form; Prism names them `self_attn.k_b_proj.weight` / `self_attn.v_b_proj.weight`.
//  - the 64 experts' weights are stacked into one [E, out, in] tensor per projection (`ffn_*_exps`).
//  - MoonViT's fused wqkv is split into wq / wk / wv (weights and biases).
//  - the position table [H, W, D] is flattened to [H·W, D].
//  - `gate.e_score_correction_bias` becomes `exp_probs_b.bias`.
import Foundation
import PrismCore
import PrismIO

public enum KimiVLGGUFNames {
    /// Prism name ↔ GGUF name; `{bid}` is the layer / block, `{xid}` the expert (stacked in GGUF).
    public static let text: [(prism: String, gguf: String)] = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
        ("model.layers.{bid}.input_layernorm.weight", "blk.{bid}.attn_norm.weight"),
        ("model.layers.{bid}.post_attention_layernorm.weight", "blk.{bid}.ffn_norm.weight"),
        ("model.layers.{bid}.self_attn.q_proj.weight", "blk.{bid}.attn_q.weight"),
        ("model.layers.{bid}.self_attn.kv_a_proj_with_mqa.weight", "blk.{bid}.attn_kv_a_mqa.weight"),
        ("model.layers.{bid}.self_attn.kv_a_layernorm.weight", "blk.{bid}.attn_kv_a_norm.weight"),
        ("model.layers.{bid}.self_attn.k_b_proj.weight", "blk.{bid}.attn_k_b.weight"),
        ("model.layers.{bid}.self_attn.v_b_proj.weight", "blk.{bid}.attn_v_b.weight"),
        ("model.layers.{bid}.self_attn.o_proj.weight", "blk.{bid}.attn_output.weight"),
        ("model.layers.{bid}.mlp.gate_proj.weight", "blk.{bid}.ffn_gate.weight"),
        ("model.layers.{bid}.mlp.up_proj.weight", "blk.{bid}.ffn_up.weight"),
        ("model.layers.{bid}.mlp.down_proj.weight", "blk.{bid}.ffn_down.weight"),
        ("model.layers.{bid}.mlp.gate.weight", "blk.{bid}.ffn_gate_inp.weight"),
        ("model.layers.{bid}.mlp.gate.e_score_correction_bias", "blk.{bid}.exp_probs_b.bias"),
        ("model.layers.{bid}.mlp.experts.{xid}.gate_proj.weight", "blk.{bid}.ffn_gate_exps.weight"),
        ("model.layers.{bid}.mlp.experts.{xid}.up_proj.weight", "blk.{bid}.ffn_up_exps.weight"),
        ("model.layers.{bid}.mlp.experts.{xid}.down_proj.weight", "blk.{bid}.ffn_down_exps.weight"),
        ("model.layers.{bid}.mlp.shared_experts.gate_proj.weight", "blk.{bid}.ffn_gate_shexp.weight"),
        ("model.layers.{bid}.mlp.shared_experts.up_proj.weight", "blk.{bid}.ffn_up_shexp.weight"),
        ("model.layers.{bid}.mlp.shared_experts.down_proj.weight", "blk.{bid}.ffn_down_shexp.weight"),
    ]

    public static let vision: [(prism: String, gguf: String)] = {
        var t: [(String, String)] = [
            ("vision_tower.patch_embed.proj.{p}", "v.patch_embd.{p}"),
            ("vision_tower.patch_embed.pos_emb.weight", "v.position_embd.weight"),
            ("vision_tower.encoder.final_layernorm.{p}", "v.post_ln.{p}"),
            ("multi_modal_projector.pre_norm.{p}", "mm.input_norm.{p}"),
            ("multi_modal_projector.linear_1.{p}", "mm.1.{p}"),
            ("multi_modal_projector.linear_2.{p}", "mm.2.{p}"),
        ]
        let block: [(String, String)] = [("norm0", "ln1"), ("wq", "attn_q"), ("wk", "attn_k"), ("wv", "attn_v"),
                                         ("wo", "attn_out"), ("norm1", "ln2"), ("mlp.fc0", "ffn_up"), ("mlp.fc1", "ffn_down")]
        for (hf, gg) in block { t.append(("vision_tower.encoder.blocks.{bid}.\(hf).{p}", "v.blk.{bid}.\(gg).{p}")) }
        // {p}: weight and bias
        return t.flatMap { pair in
            pair.0.contains("{p}") ? ["weight", "bias"].map { (pair.0.replacingOccurrences(of: "{p}", with: $0), pair.1.replacingOccurrences(of: "{p}", with: $0)) }
                                   : [pair]
        }
    }()

    /// The GGUF name for a Prism name (experts map to their stacked tensor, with the expert index).
    public static func gguf(for prism: String) -> (name: String, expert: Int?)? {
        for (p, g) in text + vision {
            if let v = match(p, prism) { return (fill(g, v), v["xid"]) }
        }
        return nil
    }

    /// The Prism name for a GGUF name (stacked experts: the pattern with `{xid}` still in it).
    public static func prism(for gguf: String) -> String? {
        for (p, g) in text + vision {
            if let v = match(g, gguf) { return fill(p, v) }
        }
        return nil
    }

    /// Placeholder values when `name` matches `pattern` (dot-separated; `{bid}` / `{xid}` match integers).
    static func match(_ pattern: String, _ name: String) -> [String: Int]? {
        let ps = pattern.split(separator: ".", omittingEmptySubsequences: false)
        let ns = name.split(separator: ".", omittingEmptySubsequences: false)
        guard ps.count == ns.count else { return nil }
        var values: [String: Int] = [:]
        for (p, n) in zip(ps, ns) {
            if p.hasPrefix("{") && p.hasSuffix("}") {
                guard let v = Int(n), v >= 0, String(v) == n else { return nil }
                values[String(p.dropFirst().dropLast())] = v
            } else if p != n {
                return nil
            }
        }
        return values
    }

    static func fill(_ pattern: String, _ values: [String: Int]) -> String {
        var s = pattern
        for (k, v) in values { s = s.replacingOccurrences(of: "{\(k)}", with: String(v)) }
        return s
    }
}

// MARK: - A GGUF pair as the model's tensor source

public enum KimiVLGGUFError: Error, CustomStringConvertible, Equatable {
    case wrongArchitecture(file: String, found: String, expected: String)
    case unsupported(file: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .wrongArchitecture(f, found, e): "\(f): general.architecture is \(quoted(found)), expected \(quoted(e))"
        case let .unsupported(f, k, r): "\(f): key \(quoted(k)): \(r)"
        }
    }
}

/// The text GGUF (arch deepseek2) and optional mmproj seen under Prism's names: stacked experts as per-expert
/// zero-copy slices, the flattened position table with its grid shape. GGUF tensors missing from the name
/// table keep their own names, so the loader reports them as unexpected.
public final class KimiVLGGUF: TensorSource {
    public let text: GGUFFile
    public let mmproj: GGUFFile?
    enum Entry { case tensor(GGUFFile, String), expert(GGUFFile, String, Int), reshaped(GGUFFile, String, [Int]) }
    private var entries: [String: Entry] = [:]

    public init(text: GGUFFile, mmproj: GGUFFile?) throws {
        self.text = text
        self.mmproj = mmproj
        let positionGrid = try mmproj.map { try KimiVLGGUF.positionGrid($0) }
        for file in [text] + (mmproj.map { [$0] } ?? []) {
            for t in file.tensors {
                guard let p = KimiVLGGUFNames.prism(for: t.name) else { entries[t.name] = .tensor(file, t.name); continue }
                if p.contains("{xid}") {
                    for e in 0..<(t.shape.count == 3 ? t.shape[0] : 0) {
                        entries[p.replacingOccurrences(of: "{xid}", with: String(e))] = .expert(file, t.name, e)
                    }
                    if t.shape.count != 3 { entries[t.name] = .tensor(file, t.name) }
                } else if t.name == "v.position_embd.weight", let g = positionGrid, t.shape.count == 2, t.shape[0] == g.h * g.w {
                    entries[p] = .reshaped(file, t.name, [g.h, g.w, t.shape[1]])
                } else {
                    entries[p] = .tensor(file, t.name)
                }
            }
        }
    }

    public var sourceDescription: String { ([text.path] + (mmproj.map { [$0.path] } ?? [])).joined(separator: " + ") }
    public var tensorNames: [String] { entries.keys.sorted() }

    public func view(_ name: String) throws -> TensorView {
        switch entries[name] {
        case let .tensor(f, n): return try f.view(n)
        case let .expert(f, n, e): return try f.view(n).slice(e)
        case let .reshaped(f, n, shape): return try f.view(n).reshaped(shape)
        case nil: throw GGUFError.missingTensor(file: sourceDescription, tensor: name)
        }
    }

    /// Bytes of all tensors in the text file (for the stats line).
    public var textBytes: Int { text.fileSize }

    // MARK: - Configs from metadata

    /// The text config from `deepseek2.*` keys (llama.cpp's names; see DeepseekV2Model.set_gguf_parameters).
    public func textConfig() throws -> TextConfig {
        let f = text
        let arch = try f.string("general.architecture")
        guard arch == "deepseek2" else { throw KimiVLGGUFError.wrongArchitecture(file: f.path, found: arch, expected: "deepseek2") }
        func k(_ s: String) -> String { "deepseek2.\(s)" }
        if let q = f.value(k("attention.q_lora_rank")), q.intValue != 0 {
            throw KimiVLGGUFError.unsupported(file: f.path, key: k("attention.q_lora_rank"), reason: "only models without q_lora_rank (plain q_proj) are supported")
        }
        if let t = f.value(k("rope.scaling.type")), t != .string("none") {
            throw KimiVLGGUFError.unsupported(file: f.path, key: k("rope.scaling.type"), reason: "rope scaling is not supported")
        }
        let rope = try f.int(k("rope.dimension_count"))
        let gating = (try? f.int(k("expert_gating_func"))) ?? 2
        guard gating == 2 else {
            throw KimiVLGGUFError.unsupported(file: f.path, key: k("expert_gating_func"), reason: "only sigmoid routing (2) is supported, found \(gating)")
        }
        let vocab = try (try? f.int(k("vocab_size"))) ?? f.array("tokenizer.ggml.tokens").count
        var c: [String: Any] = [
            "vocab_size": vocab,
            "hidden_size": try f.int(k("embedding_length")),
            "intermediate_size": try f.int(k("feed_forward_length")),
            "moe_intermediate_size": try f.int(k("expert_feed_forward_length")),
            "num_hidden_layers": try f.int(k("block_count")),
            "num_attention_heads": try f.int(k("attention.head_count")),
            "kv_lora_rank": try f.int(k("attention.kv_lora_rank")),
            "qk_nope_head_dim": try f.int(k("attention.key_length_mla")) - rope,
            "qk_rope_head_dim": rope,
            "v_head_dim": try f.int(k("attention.value_length_mla")),
            "n_routed_experts": try f.int(k("expert_count")),
            "n_shared_experts": try f.int(k("expert_shared_count")),
            "num_experts_per_tok": try f.int(k("expert_used_count")),
            "first_k_dense_replace": try f.int(k("leading_dense_block_count")),
            "n_group": (try? f.int(k("expert_group_count"))) ?? 1,
            "topk_group": (try? f.int(k("expert_group_used_count"))) ?? 1,
            "routed_scaling_factor": (try? f.float(k("expert_weights_scale"))) ?? 1,
            "norm_topk_prob": (try? f.bool(k("expert_weights_norm"))) ?? false,
            "rope_theta": try f.float(k("rope.freq_base")),
            "rms_norm_eps": try f.float(k("attention.layer_norm_rms_epsilon")),
            "max_position_embeddings": try f.int(k("context_length")),
            "tie_word_embeddings": !f.contains("output.weight"),
            // llama.cpp runs deepseek2 with ggml's "normal" rope: adjacent (interleaved) pairs, as Kimi's code
            "rope_interleave": true,
            "topk_method": "noaux_tc",
        ]
        c["topk_method"] = f.contains("blk.\(c["first_k_dense_replace"]!).exp_probs_b.bias") ? "noaux_tc" : "greedy"
        return try JSONConfig.decode(TextConfig.self, from: JSONSerialization.data(withJSONObject: c), path: f.path)
    }

    /// The vision config and preprocessing from the mmproj's `clip.*` keys (KimiVLModel.set_gguf_parameters).
    public func visionConfig() throws -> (VisionConfig, PreprocessorConfig)? {
        guard let f = mmproj else { return nil }
        let type = try f.string("clip.projector_type")
        guard type == "kimivl" else {
            throw KimiVLGGUFError.unsupported(file: f.path, key: "clip.projector_type", reason: "\(quoted(type)) is not a Kimi-VL projector (kimivl)")
        }
        let patch = try f.int("clip.vision.patch_size")
        let grid = try KimiVLGGUF.positionGrid(f)
        let merge = (try? f.int("clip.vision.projector.scale_factor")) ?? 2
        let c: [String: Any] = [
            "patch_size": patch,
            "hidden_size": try f.int("clip.vision.embedding_length"),
            "num_hidden_layers": try f.int("clip.vision.block_count"),
            "num_attention_heads": try f.int("clip.vision.attention.head_count"),
            "intermediate_size": try f.int("clip.vision.feed_forward_length"),
            "init_pos_emb_height": grid.h, "init_pos_emb_width": grid.w,
            "merge_kernel_size": [merge, merge],
        ]
        if let eps = try? f.float("clip.vision.attention.layer_norm_epsilon"), abs(eps - VisionConfig.layerNormEps) > 1e-9 {
            throw KimiVLGGUFError.unsupported(file: f.path, key: "clip.vision.attention.layer_norm_epsilon", reason: "MoonViT uses 1e-5, found \(eps)")
        }
        let vision = try JSONConfig.decode(VisionConfig.self, from: JSONSerialization.data(withJSONObject: c), path: f.path)
        var pp = PreprocessorConfig.kimiVL
        pp.patchSize = patch
        pp.mergeKernelSize = [merge, merge]
        if let m = try? f.array("clip.vision.image_mean").floats, m.count == 3 { pp.imageMean = m }
        if let s = try? f.array("clip.vision.image_std").floats, s.count == 3 { pp.imageStd = s }
        // Kimi-VL's in_token_limit in patches; llama.cpp's kimik25 projector stores the same as max pixels
        if let px = try? f.int("clip.vision.image_max_pixels"), px >= patch * patch { pp.inTokenLimit = px / (patch * patch) }
        return (vision, pp)
    }

    /// The position table's grid: the converter flattens [H, W, D] and writes image_size = 64·patch for
    /// Kimi-VL whatever the table, so the grid is the square root of its row count.
    static func positionGrid(_ f: GGUFFile) throws -> (h: Int, w: Int) {
        guard let t = f.info("v.position_embd.weight"), t.shape.count == 2 else {
            throw GGUFError.missingTensor(file: f.path, tensor: "v.position_embd.weight")
        }
        let side = Int(Double(t.shape[0]).squareRoot().rounded())
        guard side * side == t.shape[0] else {
            throw GGUFError.invalidTensor(file: f.path, tensor: t.name, reason: "\(t.shape[0]) positions are not a square grid")
        }
        return (side, side)
    }

    /// `<|media_pad|>`'s id from the token list (163605 in Kimi-VL).
    public func mediaPadId() -> Int {
        (try? text.array("tokenizer.ggml.tokens").strings?.firstIndex(of: "<|media_pad|>")).flatMap { $0 } ?? 163605
    }
}
