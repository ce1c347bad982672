#!/usr/bin/env python3
"""Trainable PyTorch Kimi-VL (specs/kimi_vl.md): MoonViT → 2×2 merge + projector → DeepSeek-V3 decoder with MLA
and a sigmoid-routed MoE, with the official module names, so `state_dict()` is the official checkpoint layout
(`vision_tower.*`, `multi_modal_projector.*`, `language_model.model.*`, `language_model.lm_head.weight`,
per-expert `mlp.experts.N.*`).

The vision side follows Tools/reference/kimivl_tiny.py (written from the spec) as nn.Modules, batched with
padding instead of packing (attention is masked to each image's own patches, the same as the block-diagonal
varlen attention). The decoder is written from spec §5; `python3 Tools/train/kimivl_model.py --selftest`
checks its logits against transformers' DeepseekV3ForCausalLM on random weights.

Training-only detail: the MoE computes every expert densely and weights it by the (sparse) routing weights,
which gives the same output as dispatching; `update_router_bias` is DeepSeek-V3's auxiliary-loss-free
balancing (the correction bias only picks experts, spec §5.2).
"""
import json
import math
import pathlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

PREPROCESSOR = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], in_token_limit=576,
                    merge_kernel_size=[2, 2], num_pooled_tokens=144, pad_input=True, patch_size=14,
                    image_processor_type="KimiVLImageProcessor", processor_class="KimiVLProcessor")
VISION = dict(patch_size=14, hidden_size=192, num_hidden_layers=4, num_attention_heads=3, intermediate_size=768,
              init_pos_emb_height=24, init_pos_emb_width=24, merge_kernel_size=[2, 2], model_type="moonvit")


def text_config(vocab_size):
    return dict(
        vocab_size=vocab_size, hidden_size=256, intermediate_size=768, moe_intermediate_size=192,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=None, kv_lora_rank=64,
        qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32, n_routed_experts=8, n_shared_experts=1,
        num_experts_per_tok=2, first_k_dense_replace=1, moe_layer_freq=1, topk_method="noaux_tc",
        scoring_func="sigmoid", n_group=1, topk_group=1, routed_scaling_factor=2.446, norm_topk_prob=True,
        ep_size=1, aux_loss_alpha=0.0, seq_aux=True, hidden_act="silu", rope_theta=800000.0, rope_scaling=None,
        max_position_embeddings=4096, rms_norm_eps=1e-5, attention_bias=False, tie_word_embeddings=False,
        num_nextn_predict_layers=0, model_type="deepseek_v3")


# ---------------------------------------------------------------- image processor (spec §4)
def preprocess(img, pp=PREPROCESSOR):
    """PIL image → (pixel_values [h·w, 3, 14, 14] float32, (h, w))."""
    P, limit = pp["patch_size"], pp["in_token_limit"]
    W0, H0 = img.size
    if (W0 // P) * (H0 // P) > limit:
        s = math.sqrt(limit / ((W0 // P) * (H0 // P)))
        img = img.resize((int(W0 * s), int(H0 * s)), Image.BICUBIC)
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    h, w = a.shape[:2]
    a = np.pad(a, ((0, (28 - h % 28) % 28), (0, (28 - w % 28) % 28), (0, 0)))      # right/bottom, black
    t = (a.astype(np.float32) / 255 - 0.5) / 0.5
    gh, gw = t.shape[0] // P, t.shape[1] // P
    patches = t.reshape(gh, P, gw, P, 3).transpose(0, 2, 4, 1, 3).reshape(gh * gw, 3, P, P)
    return patches, (gh, gw)


# ---------------------------------------------------------------- MoonViT (spec §3)
class PatchEmbed(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, P = c["hidden_size"], c["patch_size"]
        self.proj = nn.Conv2d(3, D, P, P)
        self.pos_emb = nn.Module()
        self.pos_emb.weight = nn.Parameter(torch.randn(c["init_pos_emb_height"], c["init_pos_emb_width"], D) * 0.02)

    def forward(self, pixels, grids):                   # pixels [B, N, 3, P, P] → [B, N, D]
        B, N = pixels.shape[:2]
        x = self.proj(pixels.flatten(0, 1)).view(B, N, -1)
        table, cache, pos = self.pos_emb.weight, {}, torch.zeros_like(x)
        for b, (h, w) in enumerate(grids):
            if (h, w) not in cache:
                cache[(h, w)] = table.flatten(0, 1) if (h, w) == tuple(table.shape[:2]) else \
                    F.interpolate(table.permute(2, 0, 1)[None].float(), size=(h, w), mode="bicubic")[0] \
                    .permute(1, 2, 0).flatten(0, 1).to(x.dtype)
            pos[b, :h * w] = cache[(h, w)]
        return x + pos


def rope2d(grids, N, head_dim, device):
    """cos, sin [B, N, head_dim/2] for complex pairs: even pair = column (x), odd pair = row (y)."""
    freqs = 1.0 / (10000 ** (torch.arange(0, head_dim, 4, device=device)[: head_dim // 4].float() / head_dim))
    ang = torch.zeros(len(grids), N, head_dim // 2, device=device)
    for b, (h, w) in enumerate(grids):
        idx = torch.arange(h * w, device=device)
        x, y = (idx % w).float(), (idx // w).float()
        ang[b, :h * w, 0::2] = x[:, None] * freqs
        ang[b, :h * w, 1::2] = y[:, None] * freqs
    return ang.cos(), ang.sin()


def apply_pairs(t, cos, sin):
    """Rotate (2j, 2j+1) pairs of the last dim; t [B, N, H, hd], cos/sin [B, N, hd/2]."""
    a, b = t[..., 0::2].float(), t[..., 1::2].float()
    c, s = cos[:, :, None], sin[:, :, None]
    return torch.stack([a * c - b * s, a * s + b * c], -1).flatten(-2).to(t.dtype)


class VitBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, I = c["hidden_size"], c["intermediate_size"]
        self.heads = c["num_attention_heads"]
        self.norm0, self.norm1 = nn.LayerNorm(D, eps=1e-5), nn.LayerNorm(D, eps=1e-5)
        self.wqkv, self.wo = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.mlp = nn.Module()
        self.mlp.fc0, self.mlp.fc1 = nn.Linear(D, I), nn.Linear(I, D)

    def forward(self, x, cos, sin, key_mask):
        B, N, D = x.shape
        qkv = self.wqkv(self.norm0(x)).view(B, N, 3, self.heads, D // self.heads)
        q, k, v = apply_pairs(qkv[:, :, 0], cos, sin), apply_pairs(qkv[:, :, 1], cos, sin), qkv[:, :, 2]
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           attn_mask=key_mask[:, None, None, :])
        x = x + self.wo(o.transpose(1, 2).reshape(B, N, D))
        return x + self.mlp.fc1(F.gelu(self.mlp.fc0(self.norm1(x)), approximate="tanh"))


class MoonViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.patch_embed = PatchEmbed(c)
        self.encoder = nn.Module()
        self.encoder.blocks = nn.ModuleList(VitBlock(c) for _ in range(c["num_hidden_layers"]))
        self.encoder.final_layernorm = nn.LayerNorm(c["hidden_size"], eps=1e-5)

    def forward(self, pixels, grids):
        """pixels [B, N, 3, P, P] (patches of image b first, then padding) → list of [h·w/4, 4, D] merged."""
        B, N = pixels.shape[:2]
        x = self.patch_embed(pixels, grids)
        lens = torch.tensor([h * w for h, w in grids], device=x.device)
        key_mask = torch.arange(N, device=x.device)[None] < lens[:, None]
        cos, sin = rope2d(grids, N, self.config["hidden_size"] // self.config["num_attention_heads"], x.device)
        for blk in self.encoder.blocks:
            x = blk(x, cos, sin, key_mask)
        x = self.encoder.final_layernorm(x)
        D = x.shape[-1]
        return [x[b, :h * w].view(h // 2, 2, w // 2, 2, D).permute(0, 2, 1, 3, 4).reshape(-1, 4, D)
                for b, (h, w) in enumerate(grids)]


class Projector(nn.Module):
    def __init__(self, D, TD):
        super().__init__()
        self.pre_norm = nn.LayerNorm(D, eps=1e-5)
        self.linear_1, self.linear_2 = nn.Linear(4 * D, 4 * D), nn.Linear(4 * D, TD)

    def forward(self, merged):                           # [M, 4, D] → [M, TD]
        return self.linear_2(F.gelu(self.linear_1(self.pre_norm(merged).flatten(1))))


# ---------------------------------------------------------------- decoder (spec §5)
class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(n)), eps

    def forward(self, x):
        xf = x.float()
        return self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


def rope_interleaved(t, cos, sin):
    """GPT-J pairing (2i, 2i+1) rotated by p·f_i; t [B, H, T, d], cos/sin [T, d/2]."""
    a, b = t[..., 0::2].float(), t[..., 1::2].float()
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2).to(t.dtype)


class MLA(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, H = c["hidden_size"], c["num_attention_heads"]
        self.H, self.nope, self.rope, self.dv, self.r = H, c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
        self.q_proj = nn.Linear(D, H * (self.nope + self.rope), bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(D, self.r + self.rope, bias=False)
        self.kv_a_layernorm = RMSNorm(self.r, 1e-6)
        self.kv_b_proj = nn.Linear(self.r, H * (self.nope + self.dv), bias=False)
        self.o_proj = nn.Linear(H * self.dv, D, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, -1).transpose(1, 2)                     # [B, H, T, nope+rope]
        a = self.kv_a_proj_with_mqa(x)
        c, k_pe = a[..., :self.r], a[..., self.r:]                                    # [B, T, r], [B, T, rope]
        kv = self.kv_b_proj(self.kv_a_layernorm(c)).view(B, T, self.H, -1).transpose(1, 2)
        k_nope, v = kv[..., :self.nope], kv[..., self.nope:]
        q_pe = rope_interleaved(q[..., self.nope:], cos, sin)
        k_pe = rope_interleaved(k_pe[:, None], cos, sin).expand(B, self.H, T, self.rope)
        Q, K = torch.cat([q[..., :self.nope], q_pe], -1), torch.cat([k_nope, k_pe], -1)
        o = F.scaled_dot_product_attention(Q, K, v, is_causal=True, scale=(self.nope + self.rope) ** -0.5)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, D, I):
        super().__init__()
        self.gate_proj, self.up_proj = nn.Linear(D, I, bias=False), nn.Linear(D, I, bias=False)
        self.down_proj = nn.Linear(I, D, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Gate(nn.Module):
    def __init__(self, E, D):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(E, D) * 0.02)
        self.register_buffer("e_score_correction_bias", torch.zeros(E))


class MoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, E, F_ = c["hidden_size"], c["n_routed_experts"], c["moe_intermediate_size"]
        self.k, self.scale = c["num_experts_per_tok"], c["routed_scaling_factor"]
        self.gate = Gate(E, D)
        self.experts = nn.ModuleList(MLP(D, F_) for _ in range(E))
        self.shared_experts = MLP(D, F_ * c["n_shared_experts"])
        self.last_load = None

    def forward(self, x):
        shape = x.shape
        t = x.reshape(-1, shape[-1])
        with torch.autocast(t.device.type, enabled=False):                            # router in fp32 (spec §5.2)
            scores = torch.sigmoid(t.float() @ self.gate.weight.float().t())            # [N, E]
        idx = torch.topk(scores + self.gate.e_score_correction_bias, self.k, dim=-1).indices   # bias only picks
        w = scores.gather(1, idx)
        w = w / (w.sum(-1, keepdim=True) + 1e-20) * self.scale
        combine = torch.zeros_like(scores).scatter(1, idx, w)                          # [N, E], fp32
        if self.training:
            self.last_load = torch.zeros_like(scores).scatter(1, idx, 1.0).sum(0).detach()
        if t.is_cuda:   # all experts on all tokens, weighted by `combine`: a few big kernels beat a gather loop there
            g = torch.stack([e.gate_proj.weight for e in self.experts])               # [E, F, D]
            u = torch.stack([e.up_proj.weight for e in self.experts])
            d = torch.stack([e.down_proj.weight for e in self.experts])               # [E, D, F]
            h = F.silu(torch.einsum("nd,efd->enf", t, g)) * torch.einsum("nd,efd->enf", t, u)
            y = torch.einsum("enf,edf->end", h, d)                                    # [E, N, D]
            routed = (y.float() * combine.t()[:, :, None]).sum(0).to(x.dtype)
        else:           # on CPU only the chosen experts run: k/E of the work
            routed = torch.zeros(t.shape, dtype=torch.float32, device=t.device)
            for e, expert in enumerate(self.experts):
                rows = (idx == e).any(-1).nonzero().squeeze(-1)
                if rows.numel():
                    routed.index_add_(0, rows, expert(t[rows]).float() * combine[rows, e:e + 1])
            routed = routed.to(x.dtype)
        return (routed + self.shared_experts(t)).view(shape)


class DecoderLayer(nn.Module):
    def __init__(self, c, i):
        super().__init__()
        D = c["hidden_size"]
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(D, c["rms_norm_eps"]), RMSNorm(D, c["rms_norm_eps"])
        self.self_attn = MLA(c)
        self.mlp = MLP(D, c["intermediate_size"]) if i < c["first_k_dense_replace"] else MoE(c)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class DeepseekV3(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.model.layers = nn.ModuleList(DecoderLayer(c, i) for i in range(c["num_hidden_layers"]))
        self.model.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, embeds, positions=None):
        """[B, T, D] → logits [B, T, V]; with a boolean `positions` [B, T], only those rows' logits [n, V]
        (training needs logits at the answer tokens alone, and the vocabulary projection is a large share)."""
        x = self.hidden(embeds)
        return self.lm_head(x if positions is None else x[positions])

    def hidden(self, embeds):                              # [B, T, D] → final-norm hidden states [B, T, D]
        T, d = embeds.shape[1], self.config["qk_rope_head_dim"]
        theta = self.config.get("rope_theta") or self.config["rope_parameters"]["rope_theta"]
        f = 1.0 / (theta ** (torch.arange(0, d, 2, device=embeds.device).float() / d))
        ang = torch.arange(T, device=embeds.device).float()[:, None] * f
        cos, sin = ang.cos(), ang.sin()
        x = embeds
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.model.norm(x)

    @torch.no_grad()
    def update_router_bias(self, gamma):
        for layer in self.model.layers:
            if isinstance(layer.mlp, MoE) and layer.mlp.last_load is not None:
                load = layer.mlp.last_load
                layer.mlp.gate.e_score_correction_bias += gamma * torch.sign(load.mean() - load)


class KimiVL(nn.Module):
    def __init__(self, vision, text, media_pad_id):
        super().__init__()
        self.vision_config, self.text_config, self.media_pad_id = vision, text, media_pad_id
        self.vision_tower = MoonViT(vision)
        self.multi_modal_projector = Projector(vision["hidden_size"], text["hidden_size"])
        self.language_model = DeepseekV3(text)

    def embed(self, ids, pixels, grids):
        """ids [B, T] with media_pad runs → input embeddings with the image embeddings spliced in, in order."""
        merged = self.vision_tower(pixels, grids)
        img = self.multi_modal_projector(torch.cat(merged))
        pad = ids == self.media_pad_id
        x = self.language_model.model.embed_tokens(torch.where(pad, 0, ids))
        assert int(pad.sum()) == img.shape[0], (int(pad.sum()), img.shape)
        x = x.clone()
        x[pad] = img.to(x.dtype)
        return x

    def forward(self, ids, pixels, grids):
        return self.language_model(self.embed(ids, pixels, grids))

    # ------------------------------------------------------------ official layout
    def config_json(self):
        return {"architectures": ["KimiVLForConditionalGeneration"], "model_type": "kimi_vl",
                "ignore_index": -100, "media_placeholder_token_id": self.media_pad_id, "pad_token_id": 0,
                "torch_dtype": "bfloat16", "vision_config": {**self.vision_config, "torch_dtype": "bfloat16"},
                "text_config": {**self.text_config, "torch_dtype": "bfloat16"}}

    def save(self, out, dtype=torch.bfloat16, shard_bytes=10_000_000):
        from safetensors.torch import save_file
        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        sd = {k: (v.float() if k.endswith("e_score_correction_bias") else v.to(dtype)).contiguous().cpu()
              for k, v in self.state_dict().items()}
        # sharded like the official checkpoint: model-0000N-of-0000M.safetensors + model.safetensors.index.json
        shards, cur, size = [], {}, 0
        for k, v in sd.items():
            n = v.numel() * v.element_size()
            if cur and size + n > shard_bytes:
                shards.append(cur)
                cur, size = {}, 0
            cur[k], size = v, size + n
        shards.append(cur)
        weight_map = {}
        for i, sh in enumerate(shards):
            name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file(sh, str(out / name), metadata={"format": "pt"})
            weight_map.update({k: name for k in sh})
        total = sum(v.numel() * v.element_size() for v in sd.values())
        (out / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2) + "\n")
        (out / "config.json").write_text(json.dumps(self.config_json(), indent=2) + "\n")
        (out / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2) + "\n")

    @staticmethod
    def load(folder, device="cpu"):
        from safetensors.torch import load_file
        folder = pathlib.Path(folder)
        cfg = json.loads((folder / "config.json").read_text())
        strip = lambda d: {k: v for k, v in d.items() if k != "torch_dtype"}
        m = KimiVL(strip(cfg["vision_config"]), strip(cfg["text_config"]), cfg["media_placeholder_token_id"])
        index = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
        sd = {}
        for f in sorted(set(index.values())):
            sd.update({k: v.float() for k, v in load_file(str(folder / f)).items()})
        missing, unexpected = m.load_state_dict(sd, strict=False)
        assert not missing and not unexpected, (missing, unexpected)
        return m.to(device).eval()


def selftest():
    """Decoder logits vs transformers' DeepseekV3ForCausalLM on the same random weights (fp32)."""
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
    torch.manual_seed(0)
    c = text_config(300)
    m = DeepseekV3(c).eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(1 + 0.2 * torch.randn_like(p) if "norm" in n else torch.randn_like(p) * 0.08)
        for layer in m.model.layers[1:]:
            layer.mlp.gate.e_score_correction_bias.copy_(0.1 * torch.randn(c["n_routed_experts"]))
    hf_cfg = {k: v for k, v in c.items() if k not in ("model_type",)}
    hf = DeepseekV3ForCausalLM(DeepseekV3Config(**hf_cfg, rope_interleave=True, attn_implementation="eager")).eval()
    sd = {k: v for k, v in m.state_dict().items()}
    hsd = hf.state_dict()
    new = {}
    for k in hsd:
        if ".mlp.experts.gate_up_proj" in k:
            pre = k.replace("experts.gate_up_proj", "experts.")
            E = c["n_routed_experts"]
            new[k] = torch.stack([torch.cat([sd[f"{pre}{e}.gate_proj.weight"], sd[f"{pre}{e}.up_proj.weight"]]) for e in range(E)])
        elif ".mlp.experts.down_proj" in k:
            pre = k.replace("experts.down_proj", "experts.")
            new[k] = torch.stack([sd[f"{pre}{e}.down_proj.weight"] for e in range(c["n_routed_experts"])])
        elif k in sd:
            new[k] = sd[k]
        else:
            new[k] = hsd[k]    # rotary buffers
    hf.load_state_dict(new)
    ids = torch.randint(0, 300, (2, 17))
    with torch.no_grad():
        a = m(m.model.embed_tokens(ids))
        b = hf(ids).logits
    d = (a - b).abs().max().item()
    print(f"decoder vs transformers DeepseekV3ForCausalLM: max |Δlogits| = {d:.2e} (logit scale {b.abs().max():.1f})")
    assert d < 1e-3 * max(1.0, b.abs().max().item())


if __name__ == "__main__":
    import sys
    if "--selftest" in sys.argv:
        selftest()
