#!/usr/bin/env python3
"""Golden values for PrismCore's ops, computed by PyTorch (the reference semantics Prism ports).

    python3 Tools/reference/core_ops.py   # writes Tests/PrismCoreTests/Fixtures/core_ops.safetensors

Needs torch + safetensors from PyPI. Never run in CI; the output is committed (small).
Inputs are seeded; every case stores its inputs next to the expected output, named `<case>.<tensor>`.
"""
import math
import pathlib
import platform

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(1234)
out = {}


def put(name, t):
    out[name] = t.detach().to(torch.float32).clone().contiguous()


def randn(*shape, scale=1.0):
    return torch.randn(*shape, dtype=torch.float64).to(torch.float32) * scale


# matmul, batched matmul, linear
a, b = randn(7, 33), randn(33, 19)
put("matmul.a", a); put("matmul.b", b); put("matmul.out", a @ b)
a3, b3 = randn(3, 5, 16), randn(3, 16, 9)
put("bmm.a", a3); put("bmm.b", b3); put("bmm.out", torch.bmm(a3, b3))
x, w, bias = randn(6, 40), randn(24, 40, scale=0.2), randn(24)
put("linear.x", x); put("linear.w", w); put("linear.bias", bias); put("linear.out", F.linear(x, w, bias))
# bf16 / f16 weights: the expected output uses the rounded weights, widened exactly as Prism does
put("linear_bf16.out", F.linear(x, w.to(torch.bfloat16).float(), bias))
put("linear_f16.out", F.linear(x, w.to(torch.float16).float(), bias))

# dtype conversions: values incl. subnormals, huge, ties; store rounded results as float32
conv = torch.cat([randn(200, scale=3.0), torch.tensor([0.0, -0.0, 1e-8, 6e-8, 3e-5, 65504.0, 65520.0, 1e30,
                                                       1.00390625, 1.01171875, -2.5e-39, 3.3895e38])])
put("convert.x", conv)
put("convert.bf16", conv.to(torch.bfloat16).float())
put("convert.f16", conv.to(torch.float16).float())

# softmax incl. a large-magnitude row
s = randn(5, 37, scale=4.0); s[2] *= 30
put("softmax.x", s); put("softmax.out", torch.softmax(s, dim=-1))

# RMSNorm (DeepSeek/LLaMA form) and LayerNorm
x = randn(9, 64, scale=2.0); w = 1 + randn(64, scale=0.1); bb = randn(64, scale=0.1)
put("rmsnorm.x", x); put("rmsnorm.w", w)
xf = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
put("rmsnorm.out", xf * w)
put("layernorm.x", x); put("layernorm.w", w); put("layernorm.b", bb)
put("layernorm.out", F.layer_norm(x, (64,), w, bb, eps=1e-5))
x2 = randn(8, 5, 6); w2 = randn(8); b2 = randn(8)
u = x2.mean(0, keepdim=True); v = (x2 - u).pow(2).mean(0, keepdim=True)
put("layernorm2d.x", x2); put("layernorm2d.w", w2); put("layernorm2d.b", b2)
put("layernorm2d.out", (x2 - u) / torch.sqrt(v + 1e-6) * w2[:, None, None] + b2[:, None, None])

# activations
x = torch.linspace(-8, 8, 401)
put("act.x", x)
put("act.gelu", F.gelu(x)); put("act.gelu_tanh", F.gelu(x, approximate="tanh"))
put("act.silu", F.silu(x)); put("act.sigmoid", torch.sigmoid(x))

# top-k (distinct values, so torch's order is unambiguous)
t = torch.randperm(50).float().reshape(2, 25) + randn(2, 25, scale=0.01)
vals, idx = torch.topk(t, 5, dim=-1)
put("topk.x", t); put("topk.values", vals); put("topk.indices", idx.float())

# rotary: interleaved (GPT-J / DeepSeek rope_interleave) and half-split (NeoX), 1-D positions
T, H, D, theta = 6, 3, 16, 10000.0
xr = randn(T, H, D); pos = torch.tensor([0, 1, 2, 5, 17, 300])
inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
ang = pos.float()[:, None] * inv[None, :]                     # [T, D/2]
cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]
x0, x1 = xr[..., 0::2], xr[..., 1::2]
inter = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)
h0, h1 = xr[..., : D // 2], xr[..., D // 2:]
half = torch.cat([h0 * cos - h1 * sin, h0 * sin + h1 * cos], dim=-1)
put("rope.x", xr); put("rope.positions", pos.float())
put("rope.interleaved", inter); put("rope.half", half)

# resize (align_corners=False, no antialias): up, down, non-integer ratios
img = randn(3, 7, 9)
put("resize.x", img)
for (h, w) in [(13, 17), (4, 5), (7, 9), (10, 6)]:
    put(f"resize.bicubic_{h}x{w}", F.interpolate(img[None], size=(h, w), mode="bicubic", align_corners=False)[0])
    put(f"resize.bilinear_{h}x{w}", F.interpolate(img[None], size=(h, w), mode="bilinear", align_corners=False)[0])

# conv2d: stride 1 pad 1, stride 2 pad 0, patch embedding (kernel = stride)
xi = randn(3, 11, 10)
for name, (o, k, st, pd) in {"conv_3x3": (5, 3, 1, 1), "conv_s2": (4, 3, 2, 0), "conv_patch": (6, 5, 5, 0)}.items():
    wc, bc = randn(o, 3, k, k, scale=0.3), randn(o)
    put(f"{name}.x", xi); put(f"{name}.w", wc); put(f"{name}.b", bc)
    put(f"{name}.out", F.conv2d(xi[None], wc, bc, stride=st, padding=pd)[0])

# varlen attention: 3 packed segments, non-causal and causal; grouped KV heads (H=4, Hkv=2)
lens = [5, 1, 7]
Tt, Hq, Hk, Dk, Dv = sum(lens), 4, 2, 8, 6
q, k, v = randn(Tt, Hq, Dk), randn(Tt, Hk, Dk), randn(Tt, Hk, Dv)
put("attn.q", q); put("attn.k", k); put("attn.v", v); put("attn.lens", torch.tensor(lens).float())
for causal in (False, True):
    outs, start = [], 0
    for L in lens:
        qs = q[start:start + L].transpose(0, 1)
        ks = k[start:start + L].repeat_interleave(Hq // Hk, dim=1).transpose(0, 1)
        vs = v[start:start + L].repeat_interleave(Hq // Hk, dim=1).transpose(0, 1)
        o = F.scaled_dot_product_attention(qs[None], ks[None], vs[None], is_causal=causal, scale=0.3)[0]
        outs.append(o.transpose(0, 1)); start += L
    put(f"attn.{'causal' if causal else 'full'}", torch.cat(outs))

path = pathlib.Path(__file__).resolve().parents[2] / "Tests/PrismCoreTests/Fixtures/core_ops.safetensors"
meta = {"generator": "Tools/reference/core_ops.py", "torch": torch.__version__, "python": platform.python_version()}
save_file(out, str(path), metadata=meta)
print(f"wrote {len(out)} tensors to {path} ({path.stat().st_size} bytes)")
