// Checkpoint name → model name, by rule (STYLE: one remap per model, never by shape or layer number).
// The official Kimi-VL checkpoint nests the text model under `language_model.` (a DeepseekV3ForCausalLM:
// `language_model.model.layers.N…`, `language_model.lm_head.weight`); a bare DeepseekV3 checkpoint has
// `model.layers.N…` and `lm_head.weight`. Both map to the bare names the Decoder asks for; the vision
// tower (`vision_tower.…`) and projector (`multi_modal_projector.…`) keep theirs.

public enum KimiVLRemap {
    /// The model-side name for a checkpoint tensor, or nil for tensors that are recomputed, never loaded.
    public static func modelName(_ checkpointName: String) -> String? {
        // RoPE tables are recomputed from the config (spec §2.3)
        if checkpointName.hasSuffix("rotary_emb.inv_freq") || checkpointName.hasSuffix("rotary_emb.original_inv_freq") {
            return nil
        }
        let prefix = "language_model."
        if checkpointName.hasPrefix(prefix) { return String(checkpointName.dropFirst(prefix.count)) }
        return checkpointName
    }
}
