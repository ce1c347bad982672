#!/usr/bin/env python3
"""Golden values for PrismVLM's image processor, MoonViT, projector and the image-token splice, from a
PyTorch reference written from specs/kimi_vl.md §3-§4 (no transformers class exists for MoonViT; the text
model is transformers' DeepseekV3ForCausalLM from Tests/PrismVLMTests/Fixtures/deepseek_tiny).

    python3 Tools/reference/deepseek_decoder.py   # first (the text model)
    python3 Tools/reference/kimivl_tiny.py
    # writes Tests/PrismVLMTests/Fixtures/kimivl_tiny/{config.json,preprocessor_config.json,model.safetensors}
    #        Tests/PrismVLMTests/Fixtures/vision_golden.safetensors

The tiny checkpoint uses the official Kimi-VL names (`vision_tower.…`, `multi_modal_projector.…`,
`language_model.…`) in float32. Never run in CI; outputs are committed (small).
"""
import json
import math
import pathlib
import platform

import numpy as np
import PIL
import torch
import torch.nn.functional as F
import transformers
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import DeepseekV3ForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "Tests/PrismVLMTests/Fixtures"
torch.manual_seed(77)
rng = np.random.default_rng(77)

V = dict(patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
         init_pos_emb_height=6, init_pos_emb_width=5, merge_kernel_size=[2, 2], model_type="moonvit")
PP = dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], in_token_limit=40, merge_kernel_size=[2, 2],
          num_pooled_tokens=10, pad_input=True, patch_size=14, image_processor_type="KimiVLImageProcessor",
          processor_class="KimiVLProcessor")
PAD_ID = 163605
text_dir = FIX / "deepseek_tiny"
text_cfg = json.loads((text_dir / "config.json").read_text())
D, P, H, HD = V["hidden_size"], V["patch_size"], V["num_attention_heads"], V["hidden_size"] // V["num_attention_heads"]
TD = text_cfg["hidden_size"]

# ---------------------------------------------------------------- weights (official names)
w = {}
def rnd(*shape, std):
    return torch.randn(*shape) * std
w["vision_tower.patch_embed.proj.weight"] = rnd(D, 3, P, P, std=0.05)
w["vision_tower.patch_embed.proj.bias"] = rnd(D, std=0.1)
w["vision_tower.patch_embed.pos_emb.weight"] = rnd(V["init_pos_emb_height"], V["init_pos_emb_width"], D, std=0.5)
for i in range(V["num_hidden_layers"]):
    b = f"vision_tower.encoder.blocks.{i}."
    for n in ["norm0", "norm1"]:
        w[b + n + ".weight"] = 1 + rnd(D, std=0.2)
        w[b + n + ".bias"] = rnd(D, std=0.1)
    w[b + "wqkv.weight"] = rnd(3 * D, D, std=0.2); w[b + "wqkv.bias"] = rnd(3 * D, std=0.1)
    w[b + "wo.weight"] = rnd(D, D, std=0.2); w[b + "wo.bias"] = rnd(D, std=0.1)
    w[b + "mlp.fc0.weight"] = rnd(V["intermediate_size"], D, std=0.2); w[b + "mlp.fc0.bias"] = rnd(V["intermediate_size"], std=0.1)
    w[b + "mlp.fc1.weight"] = rnd(D, V["intermediate_size"], std=0.2); w[b + "mlp.fc1.bias"] = rnd(D, std=0.1)
w["vision_tower.encoder.final_layernorm.weight"] = 1 + rnd(D, std=0.2)
w["vision_tower.encoder.final_layernorm.bias"] = rnd(D, std=0.1)
w["multi_modal_projector.pre_norm.weight"] = 1 + rnd(D, std=0.2)
w["multi_modal_projector.pre_norm.bias"] = rnd(D, std=0.1)
w["multi_modal_projector.linear_1.weight"] = rnd(4 * D, 4 * D, std=0.1); w["multi_modal_projector.linear_1.bias"] = rnd(4 * D, std=0.1)
w["multi_modal_projector.linear_2.weight"] = rnd(TD, 4 * D, std=0.1); w["multi_modal_projector.linear_2.bias"] = rnd(TD, std=0.1)
for k, v in load_file(str(text_dir / "model.safetensors")).items():
    w["language_model." + k] = v

# ---------------------------------------------------------------- preprocessing (spec §4)
def preprocess(img):
    W0, H0 = img.size
    if (W0 // P) * (H0 // P) > PP["in_token_limit"]:
        s = math.sqrt(PP["in_token_limit"] / ((W0 // P) * (H0 // P)))
        img = img.resize((int(W0 * s), int(H0 * s)), Image.BICUBIC)
    a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    h, wd = a.shape[:2]
    ph, pw = (28 - h % 28) % 28, (28 - wd % 28) % 28
    a = np.pad(a, ((0, ph), (0, pw), (0, 0)))                       # right/bottom, black
    t = torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)
    t = (t - 0.5) / 0.5
    gh, gw = t.shape[1] // P, t.shape[2] // P
    patches = t.reshape(3, gh, P, gw, P).permute(1, 3, 0, 2, 4).reshape(gh * gw, 3, P, P)
    return patches, (gh, gw)

# ---------------------------------------------------------------- MoonViT (spec §3)
def rope_cis(h, wd):
    dim_range = torch.arange(0, HD, 4)[: HD // 4].float()
    freqs = 1.0 / (10000 ** (dim_range / HD))
    pos = torch.arange(h * wd).float()
    x_pos, y_pos = pos % wd, torch.div(pos, wd, rounding_mode="floor")
    x_cis = torch.polar(torch.ones(h * wd, HD // 4), torch.outer(x_pos, freqs))
    y_cis = torch.polar(torch.ones(h * wd, HD // 4), torch.outer(y_pos, freqs))
    return torch.cat([x_cis.unsqueeze(-1), y_cis.unsqueeze(-1)], dim=-1).reshape(h * wd, HD // 2)  # even = x (column)

def apply_rope(x, cis):                                   # x [L, H, HD]
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * cis[:, None, :]).flatten(-2)

vit_trace = {}

def vit(pixel_values, grids):
    L = pixel_values.shape[0]
    x = pixel_values.reshape(L, -1) @ w["vision_tower.patch_embed.proj.weight"].reshape(D, -1).T + w["vision_tower.patch_embed.proj.bias"]
    table = w["vision_tower.patch_embed.pos_emb.weight"]
    pos = []
    for (h, wd) in grids:
        if (h, wd) == tuple(table.shape[:2]):
            pos.append(table.flatten(0, 1))
        else:
            pos.append(F.interpolate(table.permute(2, 0, 1)[None], size=(h, wd), mode="bicubic")[0].permute(1, 2, 0).flatten(0, 1))
    x = x + torch.cat(pos)
    cis = torch.cat([rope_cis(h, wd) for h, wd in grids])
    lens = [h * wd for h, wd in grids]
    for i in range(V["num_hidden_layers"]):
        b = f"vision_tower.encoder.blocks.{i}."
        hN = F.layer_norm(x, (D,), w[b + "norm0.weight"], w[b + "norm0.bias"], 1e-5)
        qkv = F.linear(hN, w[b + "wqkv.weight"], w[b + "wqkv.bias"]).view(L, 3, H, HD)
        q, k, v = apply_rope(qkv[:, 0], cis), apply_rope(qkv[:, 1], cis), qkv[:, 2]
        outs, s = [], 0
        for n in lens:                                     # attention confined to each image
            qs, ks, vs = (t[s:s + n].transpose(0, 1) for t in (q, k, v))
            outs.append(F.scaled_dot_product_attention(qs, ks, vs).transpose(0, 1).reshape(n, D))
            s += n
        x = x + F.linear(torch.cat(outs), w[b + "wo.weight"], w[b + "wo.bias"])
        hN = F.layer_norm(x, (D,), w[b + "norm1.weight"], w[b + "norm1.bias"], 1e-5)
        x = x + F.linear(F.gelu(F.linear(hN, w[b + "mlp.fc0.weight"], w[b + "mlp.fc0.bias"]), approximate="tanh"),
                         w[b + "mlp.fc1.weight"], w[b + "mlp.fc1.bias"])
        vit_trace[f"trace.vit.layer.{i}"] = x.clone()
    x = F.layer_norm(x, (D,), w["vision_tower.encoder.final_layernorm.weight"], w["vision_tower.encoder.final_layernorm.bias"], 1e-5)
    merged, s = [], 0
    for (h, wd) in grids:
        t = x[s:s + h * wd].view(h // 2, 2, wd // 2, 2, D).permute(0, 2, 1, 3, 4).reshape(-1, 4, D)
        merged.append(t); s += h * wd
    return x, torch.cat(merged)

def projector(merged):
    n = F.layer_norm(merged, (D,), w["multi_modal_projector.pre_norm.weight"], w["multi_modal_projector.pre_norm.bias"], 1e-5)
    h = F.gelu(F.linear(n.reshape(merged.shape[0], -1), w["multi_modal_projector.linear_1.weight"], w["multi_modal_projector.linear_1.bias"]))
    return F.linear(h, w["multi_modal_projector.linear_2.weight"], w["multi_modal_projector.linear_2.bias"])

# ---------------------------------------------------------------- inputs
def image(wd, h, seed):
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:wd]
    base = np.stack([(xx * 3 + yy) % 256, (yy * 5) % 256, (xx * yy) % 256], -1)
    return ((base + r.integers(0, 40, base.shape)) % 256).astype(np.uint8)

imgs = [image(70, 45, 1), image(100, 130, 2)]        # second is over in_token_limit → shrunk
out = {}
pv, grids = [], []
for i, a in enumerate(imgs):
    out[f"image{i}.pixels"] = torch.from_numpy(a.astype(np.float32))
    p, g = preprocess(Image.fromarray(a, "RGB"))
    out[f"image{i}.pixel_values"] = p; out[f"image{i}.grid"] = torch.tensor(g, dtype=torch.float32)
    pv.append(p); grids.append(g)
print("grids", grids)
with torch.no_grad():
    enc, merged = vit(torch.cat(pv), grids)
    emb = projector(merged)
    out.update(vit_trace)
    out["packed.encoded"] = enc; out["packed.merged"] = merged; out["packed.embeddings"] = emb
    # the decoder on a prompt whose <|media_pad|> runs are replaced by the image embeddings
    n0, n1 = grids[0][0] * grids[0][1] // 4, grids[1][0] * grids[1][1] // 4
    ids = [5, 17, 40] + [PAD_ID] * n0 + [41, 33] + [PAD_ID] * n1 + [42, 2, 90]
    lm = DeepseekV3ForCausalLM.from_pretrained(str(text_dir), attn_implementation="eager").eval()
    ids_t = torch.tensor(ids)
    embeds = lm.model.embed_tokens(torch.where(ids_t == PAD_ID, 0, ids_t))
    embeds[ids_t == PAD_ID] = emb
    out["prompt.ids"] = ids_t.float()
    out["prompt.logits"] = lm(inputs_embeds=embeds[None]).logits[0]

dst = FIX / "kimivl_tiny"
dst.mkdir(exist_ok=True)
text_cfg = {k: v for k, v in text_cfg.items() if k not in ("architectures", "transformers_version", "dtype")}
config = {"architectures": ["KimiVLForConditionalGeneration"], "model_type": "kimi_vl", "ignore_index": -100,
          "media_placeholder_token_id": PAD_ID, "pad_token_id": 0, "torch_dtype": "float32",
          "vision_config": V, "text_config": text_cfg}
(dst / "config.json").write_text(json.dumps(config, indent=2) + "\n")
(dst / "preprocessor_config.json").write_text(json.dumps(PP, indent=2) + "\n")
save_file({k: v.contiguous() for k, v in w.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
meta = {"generator": "Tools/reference/kimivl_tiny.py", "torch": torch.__version__, "transformers": transformers.__version__,
        "pillow": PIL.__version__, "python": platform.python_version()}
save_file({k: v.float().contiguous() for k, v in out.items()}, str(FIX / "vision_golden.safetensors"), metadata=meta)
print({k: tuple(v.shape) for k, v in out.items()})
