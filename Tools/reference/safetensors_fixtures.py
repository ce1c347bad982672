#!/usr/bin/env python3
"""safetensors files written by the reference `safetensors` library, for Prism's reader tests.

    python3 Tools/reference/safetensors_fixtures.py   # writes Tests/PrismIOTests/Fixtures/st/*

mixed.safetensors holds every dtype Prism reads; expected.json lists each tensor's dtype, shape and values.
sharded/ is a two-shard checkpoint with a Hugging Face style model.safetensors.index.json.
"""
import json
import pathlib

import torch
from safetensors.torch import save_file

root = pathlib.Path(__file__).resolve().parents[2] / "Tests/PrismIOTests/Fixtures/st"
(root / "sharded").mkdir(parents=True, exist_ok=True)
g = torch.Generator().manual_seed(3)
base = torch.randn(2, 3, 4, generator=g)
tensors = {
    "f32": base.clone(),
    "f16": base.to(torch.float16),
    "bf16": base.to(torch.bfloat16),
    "f64": base[0].double(),
    "i64": torch.tensor([-(2 ** 40), -1, 0, 7, 2 ** 40]),
    "i32": torch.tensor([[-5, 3], [2 ** 30, 0]], dtype=torch.int32),
    "u8": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 4),
}
save_file(tensors, str(root / "mixed.safetensors"), metadata={"format": "pt", "note": "prism fixture"})
expected = {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape),
                "values": v.double().flatten().tolist()} for k, v in tensors.items()}
(root / "expected.json").write_text(json.dumps(expected, indent=1))

shard1 = {"model.embed.weight": torch.randn(5, 3, generator=g).to(torch.bfloat16),
          "model.layers.0.w": torch.randn(3, 3, generator=g)}
shard2 = {"model.layers.1.w": torch.randn(3, 3, generator=g), "lm_head.weight": torch.randn(5, 3, generator=g)}
names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
weight_map, total = {}, 0
for name, shard in zip(names, (shard1, shard2)):
    save_file(shard, str(root / "sharded" / name), metadata={"format": "pt"})
    for k, v in shard.items():
        weight_map[k] = name
        total += v.numel() * v.element_size()
(root / "sharded/model.safetensors.index.json").write_text(
    json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2))
sums = {k: float(v.double().sum()) for s in (shard1, shard2) for k, v in s.items()}
(root / "sharded/expected_sums.json").write_text(json.dumps(sums, indent=1))
print("wrote", root)
