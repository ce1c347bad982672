#!/usr/bin/env python3
"""Writes a random-weight Kimi-VL checkpoint in the OFFICIAL layout and names, at any scale.

    python3 Tools/make_random_checkpoint.py --preset tiny --out /tmp/kimivl-tiny
    python3 Tools/make_random_checkpoint.py --preset full --out /data/kimivl-a3b-random   # ≈ 32.8 GB, bf16
    python3 Tools/make_random_checkpoint.py --preset full --layers 4 --out /data/a3b-4l   # full shape, 4 blocks

Output: config.json (model_type kimi_vl, vision_config + text_config as in specs/kimi_vl.md §1),
preprocessor_config.json, model-0000N-of-0000M.safetensors shards and model.safetensors.index.json, with
tensor names and shapes of specs/kimi_vl.md §2 (`vision_tower.…`, `multi_modal_projector.…`,
`language_model.model.…`, `language_model.lm_head.weight`). Tensors are streamed one at a time in chunks,
so the full 16.4 B-parameter layout is written without holding it in memory. Weights are bf16 (the router's
e_score_correction_bias float32); values are N(0, std) (norm weights 1 + noise) read from a seeded pool of 2^24 samples.
Needs only numpy.
"""
import argparse
import json
import math
import shutil
import pathlib
import struct
import sys
import time

import numpy as np

FULL_TEXT = dict(
    vocab_size=163840, hidden_size=2048, intermediate_size=11264, moe_intermediate_size=1408,
    num_hidden_layers=27, num_attention_heads=16, num_key_value_heads=16, q_lora_rank=None, kv_lora_rank=512,
    qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, n_routed_experts=64, n_shared_experts=2,
    num_experts_per_tok=6, first_k_dense_replace=1, moe_layer_freq=1, topk_method="noaux_tc",
    scoring_func="sigmoid", n_group=1, topk_group=1, routed_scaling_factor=2.446, norm_topk_prob=True,
    ep_size=1, aux_loss_alpha=0.001, seq_aux=True, hidden_act="silu", rope_theta=800000.0, rope_scaling=None,
    max_position_embeddings=131072, rms_norm_eps=1e-5, attention_bias=False, tie_word_embeddings=False,
    bos_token_id=163584, eos_token_id=163585, pad_token_id=163839, num_nextn_predict_layers=0,
    model_type="deepseek_v3", torch_dtype="bfloat16")
FULL_VISION = dict(patch_size=14, hidden_size=1152, num_hidden_layers=27, num_attention_heads=16,
                   intermediate_size=4304, init_pos_emb_height=64, init_pos_emb_width=64,
                   merge_kernel_size=[2, 2], model_type="moonvit", torch_dtype="bfloat16")
PREPROCESSOR = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], in_token_limit=4096,
                    merge_kernel_size=[2, 2], num_pooled_tokens=1024, pad_input=True, patch_size=14,
                    image_processor_type="KimiVLImageProcessor", processor_class="KimiVLProcessor")

PRESETS = {
    "full": dict(text=FULL_TEXT, vision=FULL_VISION, shard_bytes=5_000_000_000, preprocessor=PREPROCESSOR),
    "tiny": dict(
        text={**FULL_TEXT, **dict(vocab_size=256, hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
                                  num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=32,
                                  qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, n_routed_experts=8,
                                  n_shared_experts=2, num_experts_per_tok=3, max_position_embeddings=4096,
                                  bos_token_id=250, eos_token_id=251, pad_token_id=255)},
        vision={**FULL_VISION, **dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=48, init_pos_emb_height=8, init_pos_emb_width=8)},
        shard_bytes=200_000, preprocessor={**PREPROCESSOR, "in_token_limit": 64}),
}


def tensor_specs(text, vision):
    """(name, shape, dtype) in the official layout (specs/kimi_vl.md §2)."""
    out = []
    D, P, I = vision["hidden_size"], vision["patch_size"], vision["intermediate_size"]
    kh, kw = vision["merge_kernel_size"]
    v = "vision_tower."
    out += [(v + "patch_embed.proj.weight", [D, 3, P, P]), (v + "patch_embed.proj.bias", [D]),
            (v + "patch_embed.pos_emb.weight", [vision["init_pos_emb_height"], vision["init_pos_emb_width"], D])]
    for i in range(vision["num_hidden_layers"]):
        b = f"{v}encoder.blocks.{i}."
        out += [(b + "norm0.weight", [D]), (b + "norm0.bias", [D]), (b + "wqkv.weight", [3 * D, D]),
                (b + "wqkv.bias", [3 * D]), (b + "wo.weight", [D, D]), (b + "wo.bias", [D]),
                (b + "norm1.weight", [D]), (b + "norm1.bias", [D]), (b + "mlp.fc0.weight", [I, D]),
                (b + "mlp.fc0.bias", [I]), (b + "mlp.fc1.weight", [D, I]), (b + "mlp.fc1.bias", [D])]
    out += [(v + "encoder.final_layernorm.weight", [D]), (v + "encoder.final_layernorm.bias", [D])]
    M, TD = D * kh * kw, text["hidden_size"]
    p = "multi_modal_projector."
    out += [(p + "pre_norm.weight", [D]), (p + "pre_norm.bias", [D]), (p + "linear_1.weight", [M, M]),
            (p + "linear_1.bias", [M]), (p + "linear_2.weight", [TD, M]), (p + "linear_2.bias", [TD])]
    t = text
    H, r, nope, rope, dv = (t["num_attention_heads"], t["kv_lora_rank"], t["qk_nope_head_dim"],
                            t["qk_rope_head_dim"], t["v_head_dim"])
    lm = "language_model.model."
    out.append((lm + "embed_tokens.weight", [t["vocab_size"], TD]))
    for i in range(t["num_hidden_layers"]):
        b = f"{lm}layers.{i}."
        out += [(b + "input_layernorm.weight", [TD]),
                (b + "self_attn.q_proj.weight", [H * (nope + rope), TD]),
                (b + "self_attn.kv_a_proj_with_mqa.weight", [r + rope, TD]),
                (b + "self_attn.kv_a_layernorm.weight", [r]),
                (b + "self_attn.kv_b_proj.weight", [H * (nope + dv), r]),
                (b + "self_attn.o_proj.weight", [TD, H * dv]),
                (b + "post_attention_layernorm.weight", [TD])]
        moe = t["n_routed_experts"] > 0 and i >= t["first_k_dense_replace"] and i % t["moe_layer_freq"] == 0
        if not moe:
            F = t["intermediate_size"]
            out += [(b + "mlp.gate_proj.weight", [F, TD]), (b + "mlp.up_proj.weight", [F, TD]),
                    (b + "mlp.down_proj.weight", [TD, F])]
            continue
        E, F, S = t["n_routed_experts"], t["moe_intermediate_size"], t["moe_intermediate_size"] * t["n_shared_experts"]
        out += [(b + "mlp.gate.weight", [E, TD]), (b + "mlp.gate.e_score_correction_bias", [E])]
        for e in range(E):
            out += [(f"{b}mlp.experts.{e}.gate_proj.weight", [F, TD]), (f"{b}mlp.experts.{e}.up_proj.weight", [F, TD]),
                    (f"{b}mlp.experts.{e}.down_proj.weight", [TD, F])]
        if t["n_shared_experts"] > 0:
            out += [(b + "mlp.shared_experts.gate_proj.weight", [S, TD]), (b + "mlp.shared_experts.up_proj.weight", [S, TD]),
                    (b + "mlp.shared_experts.down_proj.weight", [TD, S])]
    out += [(lm + "norm.weight", [TD]), ("language_model.lm_head.weight", [t["vocab_size"], TD])]
    return [(n, s, "F32" if n.endswith("e_score_correction_bias") else "BF16") for n, s in out]


def to_bf16(x):
    """float32 → bf16 bits, round to nearest even (as torch does)."""
    b = x.astype(np.float32).view(np.uint32)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


class Values:
    """A seeded pool of N(0,1) samples; each tensor reads it (already scaled and rounded to its dtype) from a
    random offset, wrapping around, so the full 16 B-parameter layout is written at disk speed."""
    def __init__(self, seed, size=1 << 24):
        self.rng = np.random.default_rng(seed)
        self.pool = self.rng.standard_normal(size, dtype=np.float32)
        self.cache = {}

    @staticmethod
    def distribution(name):
        if name.endswith("norm.weight") or "layernorm.weight" in name or name.endswith(("norm0.weight", "norm1.weight")):
            return 1.0, 0.05
        if name.endswith("e_score_correction_bias"):
            return 0.0, 0.01
        if name.endswith("pos_emb.weight") or name.endswith("embed_tokens.weight"):
            return 0.0, 0.5
        if name.endswith(".bias"):
            return 0.0, 0.01
        return 0.0, 0.02

    def chunks(self, name, count, dtype):
        key = (self.distribution(name), dtype)
        if key not in self.cache:
            (mean, std), _ = key
            x = self.pool * np.float32(std) + np.float32(mean)
            self.cache[key] = to_bf16(x) if dtype == "BF16" else x
        pool = self.cache[key]
        off, done = int(self.rng.integers(0, pool.size)), 0
        while done < count:
            n = min(pool.size - off, count - done)
            yield pool[off:off + n]
            done += n
            off = 0


def write_shard(path, specs, values):
    header, offset = {}, 0
    for name, shape, dtype in specs:
        size = math.prod(shape) * (2 if dtype == "BF16" else 4)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path.with_name("." + path.name + ".partial")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, shape, dtype in specs:
            for x in values.chunks(name, math.prod(shape), dtype):
                f.write(x.tobytes())
    tmp.rename(path)
    return offset


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-bytes", type=int, help="bytes per shard (default: 5e9 full, 2e5 tiny)")
    ap.add_argument("--vocab-size", type=int, help="override text_config.vocab_size (e.g. to fit a small tokenizer)")
    ap.add_argument("--layers", type=int,
                    help="override text_config.num_hidden_layers (the full shape with fewer blocks, to fit in RAM)")
    ap.add_argument("--media-pad-id", type=int, help="override media_placeholder_token_id")
    ap.add_argument("--tokenizer", help="folder whose tiktoken.model and tokenizer_config.json are copied beside the weights")
    ap.add_argument("--manifest", action="store_true",
                    help="write only manifest.json (config, preprocessor config, tensor names/dtypes/shapes) to --out")
    a = ap.parse_args()
    preset = PRESETS[a.preset]
    text, vision = dict(preset["text"]), preset["vision"]
    if a.vocab_size:
        text["vocab_size"] = a.vocab_size
    if a.layers:
        if a.layers < 1:
            ap.error("--layers must be at least 1")
        text["num_hidden_layers"] = a.layers
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = tensor_specs(text, vision)
    config = {"architectures": ["KimiVLForConditionalGeneration"], "model_type": "kimi_vl",
              "auto_map": {"AutoConfig": "configuration_kimi_vl.KimiVLConfig",
                           "AutoModel": "modeling_kimi_vl.KimiVLForConditionalGeneration",
                           "AutoModelForCausalLM": "modeling_kimi_vl.KimiVLForConditionalGeneration"},
              "ignore_index": -100, "media_placeholder_token_id": a.media_pad_id or 163605, "pad_token_id": 0,
              "torch_dtype": "bfloat16", "vision_config": vision, "text_config": text}
    if a.manifest:
        (out / "manifest.json").write_text(json.dumps(
            {"generator": f"Tools/make_random_checkpoint.py --preset {a.preset} --manifest", "config": config,
             "preprocessor_config": preset["preprocessor"],
             "tensors": [[n, d, s] for n, s, d in specs]}, separators=(",", ":")) + "\n")
        return
    limit = a.shard_bytes or preset["shard_bytes"]
    shards, cur, cur_bytes = [], [], 0
    for s in specs:
        size = math.prod(s[1]) * (2 if s[2] == "BF16" else 4)
        if cur and cur_bytes + size > limit:
            shards.append(cur); cur, cur_bytes = [], 0
        cur.append(s); cur_bytes += size
    shards.append(cur)
    values = Values(a.seed)
    weight_map, total, t0 = {}, 0, time.time()
    for i, sh in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += write_shard(out / fname, sh, values)
        for name, _, _ in sh:
            weight_map[name] = fname
        print(f"{fname}: {len(sh)} tensors, {total / 1e9:.2f} GB so far, {time.time() - t0:.0f} s", file=sys.stderr)
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2) + "\n")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "preprocessor_config.json").write_text(json.dumps(preset["preprocessor"], indent=2) + "\n")
    if a.tokenizer:
        for f in ("tiktoken.model", "tokenizer_config.json"):
            shutil.copy(pathlib.Path(a.tokenizer) / f, out / f)
    params = sum(math.prod(s[1]) for s in specs)
    print(f"wrote {out}: {len(specs)} tensors, {params / 1e9:.3f} B parameters, {total / 1e9:.2f} GB in "
          f"{len(shards)} shards, {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
