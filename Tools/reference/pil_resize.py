#!/usr/bin/env python3
"""Golden values for PrismCore's pillowResize: Pillow's Image.resize(..., BICUBIC | BILINEAR) on RGB uint8 images,
under the Pillow that runs this script. Pillow 13 changed the order of the two passes (vertical first when the
height shrinks by more than twice as many pixels as the width: ImagingResampleInner in 13.0.0's
src/libImaging/Resample.c), so the goldens are made with both versions, each in its own venv:

    python3 -m venv --system-site-packages /tmp/p12 && /tmp/p12/bin/pip install pillow==12.3.0
    python3 -m venv --system-site-packages /tmp/p13 && /tmp/p13/bin/pip install pillow==13.0.0
    /tmp/p12/bin/python Tools/reference/pil_resize.py   # → Tests/PrismCoreTests/Fixtures/pil_resize_pillow12.safetensors
    /tmp/p13/bin/python Tools/reference/pil_resize.py   # → Tests/PrismCoreTests/Fixtures/pil_resize_pillow13.safetensors

Needs numpy, torch, safetensors. Never run in CI; the outputs are committed (small).
"""
import pathlib

import numpy as np
import PIL
import torch
from PIL import Image
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
rng = np.random.default_rng(7)
out = {}
# smooth-ish content plus noise so rounding matters; shrink (antialiased), enlarge, one axis only
src = (np.linspace(0, 255, 37 * 29 * 3).reshape(29, 37, 3) + rng.integers(0, 60, (29, 37, 3))) % 256
src = src.astype(np.uint8)
out["src"] = torch.from_numpy(src.astype(np.float32))
# a tall image: 23×90 → 20×78 runs vertical first under Pillow 13 (12 > 2·3), 23×90 → 11×78 does not (12 < 2·12);
# at the edge, → 18×78 does (12 > 2·5) and → 17×78 does not (12 = 2·6)
tall = rng.integers(0, 256, (90, 23, 3)).astype(np.uint8)
out["tall"] = torch.from_numpy(tall.astype(np.float32))
cases = {"shrink": ("src", 13, 11), "enlarge": ("src", 50, 41), "width_only": ("src", 20, 29),
         "height_only": ("src", 37, 9), "flat": ("src", 45, 12), "tall_vfirst": ("tall", 20, 78),
         "tall_hfirst": ("tall", 11, 78), "edge_vfirst": ("tall", 18, 78), "edge_hfirst": ("tall", 17, 78)}
for filt, tag in [(Image.BICUBIC, "bicubic"), (Image.BILINEAR, "bilinear")]:
    for name, (img, w, h) in cases.items():
        pixels = src if img == "src" else tall
        r = np.asarray(Image.fromarray(pixels, "RGB").resize((w, h), filt))
        out[f"{tag}.{name}"] = torch.from_numpy(r.astype(np.float32))
major = PIL.__version__.split(".")[0]
save_file(out, str(ROOT / f"Tests/PrismCoreTests/Fixtures/pil_resize_pillow{major}.safetensors"),
          metadata={"generator": "Tools/reference/pil_resize.py", "pillow": PIL.__version__})
print(f"pillow {PIL.__version__}: {len(cases) * 2} resizes")
