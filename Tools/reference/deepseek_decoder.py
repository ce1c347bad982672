#!/usr/bin/env python3
"""Golden logits for PrismVLM's decoder, from transformers' DeepseekV3ForCausalLM (the Kimi-VL text model).

    python3 Tools/reference/deepseek_decoder.py
    # writes Tests/PrismVLMTests/Fixtures/deepseek_tiny/{config.json,model.safetensors}
    #        Tests/PrismVLMTests/Fixtures/decoder_golden.safetensors

A tiny random config with Kimi-VL's text fields (q_lora_rank None, noaux_tc sigmoid router, first layer dense,
rope_interleave, theta 800000). Weights are re-initialised non-trivially (normal std 0.02-0.1, random
e_score_correction_bias and norm weights) and saved with save_pretrained in float32, which writes the bare
DeepseekV3 names (`model.layers.N...`, `lm_head.weight`; per-expert `mlp.experts.N.*`).
Never run in CI; the outputs are committed (small).
"""
import json
import pathlib
import platform

import torch
import transformers
from safetensors.torch import save_file
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "Tests/PrismVLMTests/Fixtures"
torch.manual_seed(20250401)

cfg = DeepseekV3Config(
    vocab_size=96, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
    q_lora_rank=None, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
    n_routed_experts=8, n_shared_experts=2, num_experts_per_tok=3, moe_intermediate_size=24,
    intermediate_size=80, first_k_dense_replace=1, n_group=1, topk_group=1, routed_scaling_factor=2.446,
    norm_topk_prob=True, rope_theta=800000.0, rms_norm_eps=1e-5, rope_interleave=True,
    max_position_embeddings=4096, num_nextn_predict_layers=0, tie_word_embeddings=False,
    bos_token_id=None, eos_token_id=None, pad_token_id=None,
    attn_implementation="eager",
)
model = DeepseekV3ForCausalLM(cfg).eval()

with torch.no_grad():
    for name, p in model.named_parameters():
        if "norm" in name:
            p.copy_(1.0 + 0.2 * torch.randn_like(p))
        elif "embed_tokens" in name:
            p.normal_(0, 1.0)
        elif "mlp.gate.weight" in name:
            p.normal_(0, 0.3)
        else:
            p.normal_(0, 0.08)
    for name, b in model.named_buffers():
        if name.endswith("e_score_correction_bias"):
            b.copy_(0.1 * torch.randn_like(b))

# Routing must not hinge on near-ties (Swift and torch may round the last bit differently).
gaps = []
def hook(mod, inp, out):
    x = inp[0].reshape(-1, cfg.hidden_size).float()
    s = torch.sigmoid(x @ mod.weight.float().t()) + mod.e_score_correction_bias
    top = s.sort(dim=-1, descending=True).values
    gaps.append((top[:, cfg.num_experts_per_tok - 1] - top[:, cfg.num_experts_per_tok]).min().item())
for layer in model.model.layers[cfg.first_k_dense_replace:]:
    layer.mlp.gate.register_forward_hook(hook)

# Named activations for prompt 0, the names Decoder.trace records (so a failure names the first layer that diverged)
traced, tracing = {}, [False]
def keep(name, i):
    def f(mod, inp, out):
        if tracing[0]:
            traced[f"trace.{name}.{i}"] = (out[0] if isinstance(out, tuple) else out)[0].float().clone()
    return f
for i, layer in enumerate(model.model.layers):
    layer.self_attn.register_forward_hook(keep("decoder.attention", i))
    layer.mlp.register_forward_hook(keep("decoder.ffn", i))
    layer.register_forward_hook(keep("decoder.layer", i))

prompts = [[5, 17, 33, 2, 90, 41, 8], [61, 3, 3, 77, 12], [9, 88, 14, 0, 52, 36, 71, 95, 20]]
extended = prompts[0] + [44, 7, 63]          # prompt 0 followed by three "generated" tokens
out = {}
with torch.no_grad():
    for i, p in enumerate(prompts):
        ids = torch.tensor([p])
        out[f"prompt{i}.ids"] = ids[0].float()
        tracing[0] = i == 0
        out[f"prompt{i}.logits"] = model(ids).logits[0].float()
        tracing[0] = False
    out.update(traced)
    ids = torch.tensor([extended])
    out["extended.ids"] = ids[0].float()
    out["extended.logits"] = model(ids).logits[0].float()
    # incremental decode with HF's own cache, as a cross-check of the full run
    r = model(torch.tensor([prompts[0]]), use_cache=True)
    past, inc = r.past_key_values, []
    for t in extended[len(prompts[0]):]:
        r = model(torch.tensor([[t]]), past_key_values=past, use_cache=True)
        past = r.past_key_values
        inc.append(r.logits[0, -1])
    d = (torch.stack(inc) - out["extended.logits"][len(prompts[0]):]).abs().max().item()
    print("HF incremental vs full max |d|:", d)
    # the same weights with rope_interleave = False (rotate_half pairing on the raw rope dims)
    model.config.rope_interleave = False
    out["halfsplit.prompt0.logits"] = model(torch.tensor([prompts[0]])).logits[0].float()
    model.config.rope_interleave = True
print("min routing gap (k-th vs k+1-th biased score):", min(gaps))
assert min(gaps) > 1e-4, "routing near-tie; change the seed"

dst = FIX / "deepseek_tiny"
model.save_pretrained(dst, safe_serialization=True)
for extra in ["generation_config.json"]:
    (dst / extra).unlink(missing_ok=True)
meta = {"generator": "Tools/reference/deepseek_decoder.py", "torch": torch.__version__,
        "transformers": transformers.__version__, "python": platform.python_version()}
save_file({k: v.contiguous() for k, v in out.items()}, str(FIX / "decoder_golden.safetensors"), metadata=meta)
from safetensors import safe_open
with safe_open(str(dst / "model.safetensors"), "pt") as f:
    names = sorted(f.keys())
print(len(names), "tensors, e.g.", names[:3], names[-3:])
print([n for n in names if "layers.1." in n][:12])
