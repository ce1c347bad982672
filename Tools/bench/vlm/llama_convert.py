#!/usr/bin/env python3
"""A Kimi-VL checkpoint → llama.cpp's text GGUF (arch deepseek2), the way convert_hf_to_gguf.py writes it, then
llama.cpp's own quantiser (llama_model_quantize from the llama-cpp-python wheel).

    python3 Tools/bench/vlm/llama_convert.py CHECKPOINT_DIR OUT_DIR --types q4_k_m q8_0

The converter itself reads the Kimi tokenizer through transformers with trust_remote_code; this script instead
writes the same file tensor by tensor with gguf-py's GGUFWriter (add_tensor_info, then write_tensor_data), so
the model is never in memory and no remote code runs. What it replicates from convert_hf_to_gguf.py
(DeepseekV2Model, TextModel, ModelBase.prepare_tensors) is listed next to each step; tensor names come from
gguf-py's TensorNameMap. The BF16 file is the quantiser's input (`--outtype bf16`, then llama-quantize).
Only the text model: llama-cpp-python's plain API does not run the vision mmproj.
"""
import argparse
import json
import pathlib
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q


class Checkpoint:
    """Safetensors shards read with numpy memmaps (bf16 → f32 by a shift), one tensor at a time."""
    def __init__(self, d):
        self.d = pathlib.Path(d)
        index = self.d / "model.safetensors.index.json"
        files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
        self.where = {}
        for f in files:
            p = self.d / f
            with open(p, "rb") as fh:
                n = struct.unpack("<Q", fh.read(8))[0]
                header = json.loads(fh.read(n))
            header.pop("__metadata__", None)
            for name, e in header.items():
                self.where[name] = (p, 8 + n, e)

    def names(self):
        return list(self.where)

    def get(self, name):
        p, start, e = self.where[name]
        b0, b1 = e["data_offsets"]
        dt = {"BF16": np.uint16, "F32": np.float32, "F16": np.float16}[e["dtype"]]
        a = np.memmap(p, dtype=dt, mode="r", offset=start + b0, shape=tuple(e["shape"]) if e["shape"] else (1,))
        if e["dtype"] == "BF16":
            return (a.astype(np.uint32) << 16).view(np.float32)
        return a.astype(np.float32)


def bytes_to_unicode():
    """GPT-2's byte ↔ printable map (QwenModel.token_bytes_to_string uses it)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def bpe(ranks, token, max_rank):
    """QwenModel.bpe: merge pairs of rank below max_rank."""
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best[1]):
                best = (i, r)
        if best is None or best[1] >= max_rank:
            break
        i = best[0]
        parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]
    return parts


def vocab(d, vocab_size):
    """DeepseekV2Model.set_vocab for tokpre kimi-k2: tokens, types (CONTROL specials, UNUSED pads), merges."""
    import base64
    ranks = {}
    for line in (d / "tiktoken.model").read_text().splitlines():
        if line.strip():
            tok, r = line.split()
            ranks[base64.b64decode(tok)] = int(r)
    tc = json.loads((d / "tokenizer_config.json").read_text())
    base = len(ranks)
    specials = {int(k): v["content"] for k, v in tc.get("added_tokens_decoder", {}).items()}
    # tokenization_moonshot.py: 256 reserved + 2 special ids after the base vocabulary
    for i in range(base, base + 258):
        specials.setdefault(i, f"<|reserved_token_{i}|>")
    b2u = bytes_to_unicode()
    enc = lambda b: "".join(b2u[x] for x in b)
    reverse = {r: enc(t) for t, r in ranks.items()}
    tokens, types = [], []
    for i in range(vocab_size):
        if i in specials:
            tokens.append(specials[i]); types.append(gguf.TokenType.CONTROL)
        elif i in reverse:
            tokens.append(reverse[i]); types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]"); types.append(gguf.TokenType.UNUSED)
    merges = []
    for t, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(t) > 1:
            m = bpe(ranks, t, r)
            if len(m) == 2:
                merges.append(" ".join(map(enc, m)))
    return tokens, types, merges


def convert_bf16(ck_dir, out):
    d = pathlib.Path(ck_dir)
    cfg = json.loads((d / "config.json").read_text())
    t = cfg.get("text_config", cfg)
    ck = Checkpoint(d)
    n_layer = t["num_hidden_layers"]
    H, nope, dv = t["num_attention_heads"], t["qk_nope_head_dim"], t["v_head_dim"]
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.DEEPSEEK2, n_layer)

    # ModelBase.filter_tensors: "language_model." stripped, e_score_correction_bias → e_score_correction.bias;
    # TextModel.filter_tensors drops the vision tower and projector
    names = {}
    for n in ck.names():
        if "vision_tower" in n or "multi_modal_projector" in n or n.endswith("rotary_emb.inv_freq"):
            continue
        m = n.replace("language_model.", "").replace("e_score_correction_bias", "e_score_correction.bias")
        names[m] = n

    plan = []   # (gguf name, shape, ggml type, producer)
    def add(hf_name, shape, producer):
        new = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        assert new is not None, hf_name
        n_dims = len(shape)
        # prepare_tensors: 1-D and norms F32; FFN_GATE_INP F32; non-.weight F32; the rest BF16 (--outtype bf16)
        if n_dims <= 1 or new.endswith("_norm.weight") or new.endswith("ffn_gate_inp.weight") or not new.endswith(".weight"):
            qt = Q.F32
        else:
            qt = Q.BF16
        plan.append((new, list(shape), qt, producer))

    experts = {}
    for m, n in sorted(names.items()):
        if ".mlp.experts." in m:
            # DeepseekV2Model.modify_tensors: experts stacked per layer and projection, [E, out, in]
            bid = int(m.split(".")[2]); proj = m.split(".")[-2]
            experts.setdefault((bid, proj), []).append((int(m.split(".")[5]), n))
            continue
        if m.endswith("kv_b_proj.weight"):
            # MLA absorption: k_b = kv_b[:, :nope].transpose(1, 2) [H, r, nope], v_b = kv_b[:, nope:] [H, dv, r]
            r = ck.where[n][2]["shape"][1]
            def kb(n=n, r=r):
                a = ck.get(n).reshape(H, nope + dv, r)
                return np.ascontiguousarray(a[:, :nope, :].transpose(0, 2, 1))
            def vb(n=n, r=r):
                return np.ascontiguousarray(ck.get(n).reshape(H, nope + dv, r)[:, nope:, :])
            add(m.replace("kv_b_proj", "k_b_proj"), [H, r, nope], kb)
            add(m.replace("kv_b_proj", "v_b_proj"), [H, dv, r], vb)
            continue
        add(m, ck.where[n][2]["shape"], lambda n=n: ck.get(n))
    for (bid, proj), items in sorted(experts.items()):
        items.sort()
        shape = [len(items)] + ck.where[items[0][1]][2]["shape"]
        add(f"model.layers.{bid}.mlp.experts.{proj}.weight", shape,
            lambda items=items: np.stack([ck.get(n) for _, n in items]))

    w = gguf.GGUFWriter(str(out), "deepseek2")
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(d.name)
    # TextModel.set_gguf_parameters (num_key_value_heads forced to 1 by DeepseekV2Model)
    w.add_block_count(n_layer)
    w.add_context_length(t["max_position_embeddings"])
    w.add_embedding_length(t["hidden_size"])
    w.add_feed_forward_length(t["intermediate_size"])
    w.add_head_count(H)
    w.add_head_count_kv(1)
    w.add_rope_freq_base(t.get("rope_theta", 800000.0))
    w.add_layer_norm_rms_eps(t.get("rms_norm_eps", 1e-6))
    w.add_expert_count(t["n_routed_experts"])
    w.add_expert_used_count(t["num_experts_per_tok"])
    w.add_expert_group_count(t.get("n_group", 1))
    w.add_expert_group_used_count(t.get("topk_group", 1))
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    # DeepseekV2Model.set_gguf_parameters
    r = t["kv_lora_rank"]
    w.add_leading_dense_block_count(t["first_k_dense_replace"])
    w.add_vocab_size(t["vocab_size"])
    w.add_kv_lora_rank(r)
    w.add_key_length(r + t["qk_rope_head_dim"])
    w.add_value_length(r)
    w.add_key_length_mla(nope + t["qk_rope_head_dim"])
    w.add_value_length_mla(dv)
    w.add_expert_feed_forward_length(t["moe_intermediate_size"])
    w.add_expert_shared_count(t["n_shared_experts"])
    w.add_expert_weights_scale(t["routed_scaling_factor"])
    if t.get("norm_topk_prob"):
        w.add_expert_weights_norm(True)
    w.add_rope_dimension_count(t["qk_rope_head_dim"])
    if n_layer not in (26, 27):
        # llama.cpp takes "no q_lora" from the block count (26 / 27 = the DeepSeek-V2-Lite shape, as Kimi-VL's 27);
        # a model cut to fewer blocks for benchmarking says so explicitly (q_lora_rank 0 = plain q_proj)
        w.add_q_lora_rank(0)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tokens, types, merges = vocab(d, t["vocab_size"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("kimi-k2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for typ in ("bos", "eos", "unk", "sep", "pad", "mask"):
        tid = cfg.get(f"{typ}_token_id", t.get(f"{typ}_token_id"))
        if isinstance(tid, int) and tid >= 0:
            getattr(w, f"add_{typ}_token_id")(tid)
    for name, shape, qt, _ in plan:
        nbytes = int(np.prod(shape)) * (4 if qt == Q.F32 else 2)
        w.add_tensor_info(name, shape, np.dtype(np.float32 if qt == Q.F32 else np.float16), nbytes, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape, qt, producer in plan:
        a = producer().astype(np.float32).reshape(shape)
        w.write_tensor_data(a if qt == Q.F32 else gguf.quants.quantize(a, Q.BF16))
    w.close()


def quantize(src, dst, ftype):
    import llama_cpp
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = {"q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
               "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0}[ftype]
    p.nthread = 2
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), p)
    if rc != 0:
        sys.exit(f"llama_model_quantize failed ({rc})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--types", nargs="+", default=["q4_k_m", "q8_0"])
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    bf16 = out / "llama-BF16.gguf"
    if not bf16.exists():
        convert_bf16(a.checkpoint, bf16)
    for t in a.types:
        dst = out / f"llama-{t.upper()}.gguf"
        if not dst.exists():
            quantize(bf16, dst, t)
        print(dst)
    bf16.unlink()   # only the quantiser's input


if __name__ == "__main__":
    main()
