#!/usr/bin/env python3
"""Golden values for the PrismCore ops the SAM port added: ConvTranspose2d (kernel == stride) and
Pillow's bilinear resize of 8-bit images (antialiased when shrinking).

    python3 Tools/reference/sam_core_ops.py   # writes Tests/PrismCoreTests/Fixtures/sam_core_ops.safetensors

Needs torch, numpy, Pillow, safetensors. Never run in CI; the output is committed (small).
"""
import pathlib
import platform

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

torch.manual_seed(7)
out = {}
x = torch.randn(6, 5, 7); w = torch.randn(6, 3, 2, 2) * 0.3; b = torch.randn(3)
out["convt.x"], out["convt.w"], out["convt.b"] = x, w, b
out["convt.out"] = F.conv_transpose2d(x[None], w, b, stride=2)[0]

rng = np.random.default_rng(3)
img = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
img[10:20, 5:40] = [250, 10, 100]
out["resize.image"] = torch.from_numpy(img)
for tag, (w2, h2) in {"down": (29, 17), "up": (80, 61), "mixed": (20, 50), "same_h": (70, 37)}.items():
    r = np.asarray(Image.fromarray(img).resize((w2, h2), resample=Image.BILINEAR))
    out[f"resize.{tag}"] = torch.from_numpy(r.copy())
save_file({k: v.contiguous() for k, v in out.items()},
          str(pathlib.Path(__file__).resolve().parents[2] / "Tests/PrismCoreTests/Fixtures/sam_core_ops.safetensors"),
          metadata={"generator": "python3 Tools/reference/sam_core_ops.py", "torch": torch.__version__,
                    "pillow": PIL.__version__, "python": platform.python_version()})
