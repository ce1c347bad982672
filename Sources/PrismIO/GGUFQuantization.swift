// Which storage type each tensor of a GGUF file gets, decided by name and shape exactly as llama.cpp does it:
// convert_hf_to_gguf.py writes the float file (norms, 1-D tensors, biases, routers and position embeddings
// stay F32), and llama-quantize then picks per-tensor types for a mixture such as Q4_K_M
// (src/llama-quant.cpp: tensor_allows_quantization, llama_tensor_get_type_impl, tensor_type_fallback).
import PrismCore

public enum GGUFFileType: String, CaseIterable, Sendable {
    case q8_0, q4_k_m, q4_0, bf16

    /// `general.file_type` (llama_ftype).
    public var llamaFileType: Int {
        switch self {
        case .q8_0: 7
        case .q4_k_m: 15
        case .q4_0: 2
        case .bf16: 32
        }
    }

    /// Name as llama.cpp prints it.
    public var displayName: String {
        switch self {
        case .q8_0: "Q8_0"
        case .q4_k_m: "Q4_K_M"
        case .q4_0: "Q4_0"
        case .bf16: "BF16"
        }
    }

    /// The name for a `general.file_type` value (for stats lines of files written elsewhere).
    public static func displayName(llamaFileType t: Int) -> String {
        let known: [Int: String] = [0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
                                    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
                                    17: "Q5_K_M", 18: "Q6_K", 32: "BF16"]
        return known[t] ?? "type \(t)"
    }

    /// The mmproj's type: the converter writes vision files itself (llama-quantize does not read them), and
    /// of its output types Q8_0 is the one for quantised text models.
    public var mmprojFileType: GGUFFileType { self == .bf16 ? .bf16 : .q8_0 }
}

public enum GGUFQuantization {
    /// Tensors the converter always keeps in F32 (besides 1-D tensors, `_norm.weight`s and non-`.weight`s).
    static let converterF32Names = ["ffn_gate_inp.weight", "position_embd.weight", "token_types.weight"]

    /// The converter's type for a tensor written at `fileType` (q8_0 or bf16; the K mixtures start from bf16).
    public static func converterType(_ name: String, shape: [Int], fileType: GGUFFileType) -> DType {
        if shape.count <= 1 || name.hasSuffix("_norm.weight") || !name.hasSuffix(".weight") { return .f32 }
        if converterF32Names.contains(where: { name.hasSuffix($0) }) { return .f32 }
        // MmprojModel.tensor_force_quant: the patch embedding stays F32 (F16 only in F16 files)
        if name.contains(".patch_embd.weight") { return .f32 }
        switch fileType {
        case .q8_0: return shape.last! % 32 == 0 ? .q8_0 : .f16          // QuantError → F16
        default: return .bf16
        }
    }

    /// llama-quantize's tensor_allows_quantization for the names Kimi-VL has.
    static func quantizable(_ name: String, shape: [Int]) -> Bool {
        shape.count >= 2 && name.hasSuffix("weight") && !name.contains("_norm.weight") && !name.contains("ffn_gate_inp.weight")
            && !name.contains(".position_embd") && !name.contains(".patch_embd")
    }

    /// use_more_bits: the first and last eighth of the layers and every third one between get more bits.
    static func useMoreBits(_ i: Int, _ n: Int) -> Bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    /// The final type of a text-model tensor in a file of `fileType` (after the converter and, for the
    /// 4-bit types, llama-quantize). `layers`: block count; `experts`: n_expert.
    public static func type(_ name: String, shape: [Int], fileType: GGUFFileType, layers: Int, experts: Int) -> DType {
        let source = converterType(name, shape: shape, fileType: fileType == .q8_0 ? .q8_0 : .bf16)
        guard fileType == .q4_k_m || fileType == .q4_0, quantizable(name, shape: shape), source == .bf16 else { return source }
        var t: DType = fileType == .q4_k_m ? .q4K : .q4_0
        let cols = shape.last!
        if name == "output.weight" {
            // OUTPUT category: Q6_K unless the row is not whole blocks of the default type (then Q8_0)
            t = cols % t.blockElements != 0 ? .q8_0 : .q6K
        } else if fileType == .q4_k_m {
            if name.contains("ffn_down") {
                // FFN_DOWN: more bits on use_more_bits layers (llama.cpp reads the layer from the name for MoE
                // models and counts ffn_down tensors otherwise; both give the block index here)
                if let layer = layerIndex(name), useMoreBits(layer, layers) { t = .q6K }
            } else if name.contains("attn_v.weight") || name.contains("attn_qkv.weight") || name.contains("attn_kv_b.weight") {
                // attention-v-like tensors (none in Kimi-VL's deepseek2 layout, which splits kv_b into k_b / v_b)
                t = .q6K
            } else if name.contains("attn_output.weight"), experts == 8 {
                t = .q5K
            }
        }
        return fallback(t, cols: cols)
    }

    /// tensor_type_fallback: a row that is not whole blocks of the chosen type gets a 32-block type, else F16.
    static func fallback(_ t: DType, cols: Int) -> DType {
        guard cols % t.blockElements != 0 else { return t }
        let f: DType
        switch t {
        case .q4K: f = .q5_0
        case .q5K: f = .f16      // llama.cpp: Q5_1, which Prism does not write (Q5_K only arises for 8-expert models)
        case .q6K: f = .q8_0
        default: f = t
        }
        return cols % f.blockElements == 0 ? f : .f16
    }

    static func layerIndex(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        return Int(name.dropFirst(4).prefix { $0.isNumber })
    }
}
