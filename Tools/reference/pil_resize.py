#!/usr/bin/env python3
"""Golden values for PrismCore's pillowResize(filter: .bicubic): Pillow's Image.resize(..., BICUBIC) on RGB uint8 images.

    python3 Tools/reference/pil_resize.py   # writes Tests/PrismCoreTests/Fixtures/pil_resize.safetensors
Never run in CI; the output is committed (small).
"""
import pathlib
import numpy as np
import PIL
from PIL import Image
import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
rng = np.random.default_rng(7)
out = {}
# smooth-ish content plus noise so rounding matters; shrink (antialiased), enlarge, one axis only
src = (np.linspace(0, 255, 37 * 29 * 3).reshape(29, 37, 3) + rng.integers(0, 60, (29, 37, 3))) % 256
src = src.astype(np.uint8)
out["src"] = torch.from_numpy(src.astype(np.float32))
for name, (w, h) in {"shrink": (13, 11), "enlarge": (50, 41), "width_only": (20, 29), "height_only": (37, 9)}.items():
    r = np.asarray(Image.fromarray(src, "RGB").resize((w, h), Image.BICUBIC))
    out[name] = torch.from_numpy(r.astype(np.float32))
save_file(out, str(ROOT / "Tests/PrismCoreTests/Fixtures/pil_resize.safetensors"),
          metadata={"generator": "Tools/reference/pil_resize.py", "pillow": PIL.__version__})
