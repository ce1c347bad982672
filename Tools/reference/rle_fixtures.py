#!/usr/bin/env python3
"""COCO RLE golden values from pycocotools, for PrismSAM's RLE codec (Sources/PrismSAM/RLE.swift).

    python3 Tools/reference/rle_fixtures.py
      → Tests/PrismSAMTests/Fixtures/rle/cases.json     masks (small ones inline as '0'/'1' rows, large ones as PNG)
                                                        with pycocotools' encode (compressed string), uncompressed
                                                        runs, area and toBbox
      → Tests/PrismSAMTests/Fixtures/rle/*.png          the large masks (L mode, 0 / 255)

Needs pycocotools, numpy, Pillow from PyPI. Never run in CI; the outputs are committed (small).
The cases cover what the string form makes hard: an empty and a full mask, a mask whose first pixel is set
(leading 0-length run), runs longer than 15 and 511 (several 5-bit groups), negative differences to the run two
back, one-row and one-column masks, and a real shape (the purple star of Weights/examples/scene.png).
"""
import json
import pathlib
import platform

import numpy as np
from importlib import metadata
from PIL import Image
from pycocotools import mask as mask_utils

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/PrismSAMTests/Fixtures/rle"


def runs(m):
    """Uncompressed COCO runs of a 2-D bool mask (column-major, zeros first), written independently of pycocotools."""
    flat = m.T.reshape(-1).astype(np.uint8)
    out, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            out.append(n); n = 0; cur = v
        n += 1
    out.append(n)
    return out


def cases():
    rng = np.random.default_rng(20)
    yield "empty", np.zeros((5, 7), bool)
    yield "full", np.ones((4, 6), bool)
    m = np.zeros((3, 3), bool); m[0, 0] = True
    yield "first_pixel", m
    m = np.zeros((6, 4), bool); m[-1, -1] = True
    yield "last_pixel", m
    yield "noise", rng.random((17, 23)) < 0.5
    yield "row", rng.random((1, 50)) < 0.3
    yield "column", rng.random((50, 1)) < 0.7
    m = np.zeros((20, 30), bool); m[3:17, 5:25] = True; m[8:12, 10:20] = False
    yield "ring", m
    yy, xx = np.mgrid[0:300, 0:300]
    yield "big_disc", (xx - 210) ** 2 + (yy - 90) ** 2 < 40 ** 2          # runs > 511, large negative deltas
    scene = np.asarray(Image.open(ROOT / "Weights/examples/scene.png").convert("RGB")).astype(int)
    r, g, b = scene[..., 0], scene[..., 1], scene[..., 2]
    yield "scene_star", (b > 120) & (r > 80) & (g < 90)                   # the purple star


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    records = []
    for name, m in cases():
        h, w = m.shape
        enc = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        dec = mask_utils.decode(enc)
        assert (dec.astype(bool) == m).all()
        uncompressed = runs(m)
        # pycocotools' own compression of the uncompressed runs must give the same string
        assert mask_utils.frPyObjects({"size": [h, w], "counts": uncompressed}, h, w)["counts"] == enc["counts"]
        rec = {
            "name": name, "height": h, "width": w,
            "counts": enc["counts"].decode("ascii"), "runs": uncompressed,
            "area": int(mask_utils.area(enc)), "bbox": [int(v) for v in mask_utils.toBbox(enc)],
        }
        if h * w <= 1200:
            rec["rows"] = ["".join("1" if v else "0" for v in row) for row in m]
        else:
            rec["png"] = f"{name}.png"
            Image.fromarray((m * 255).astype(np.uint8), "L").save(OUT / rec["png"], optimize=True)
        records.append(rec)
    meta = {"generator": "python3 Tools/reference/rle_fixtures.py", "pycocotools": metadata.version("pycocotools"),
            "numpy": np.__version__, "python": platform.python_version()}
    (OUT / "cases.json").write_text(json.dumps({"meta": meta, "cases": records}, indent=1) + "\n")
    print(f"wrote {len(records)} cases to {OUT}")


if __name__ == "__main__":
    main()
