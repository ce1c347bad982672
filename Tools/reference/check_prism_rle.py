#!/usr/bin/env python3
"""pycocotools decodes the COCO RLE that `prism segment --json` prints into exactly the mask PNGs it writes.

    python3 Tools/reference/check_prism_rle.py [--prism .build/release/prism]

With --prism, first runs `prism segment Weights/examples/scene.png --point 215,262 --multimask --json` into
Tests/PrismSAMTests/Fixtures/rle/prism/ (the JSON as segment.json beside the PNGs; this is the committed fixture).
Then, with or without --prism, checks every mask of that fixture: pycocotools' decode of its RLE equals the PNG
pixel for pixel, and pycocotools' area equals prism's. Exits 1 on any difference. Needs pycocotools, numpy, Pillow.
"""
import argparse
import json
import pathlib
import subprocess
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "Tests/PrismSAMTests/Fixtures/rle/prism"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prism", help="a prism binary: regenerate the fixture with it first")
    a = ap.parse_args()
    if a.prism:
        FIX.mkdir(parents=True, exist_ok=True)
        for old in FIX.glob("*"):
            old.unlink()
        out = subprocess.run([a.prism, "segment", "Weights/examples/scene.png", "--point", "215,262", "--multimask",
                              "--json", "-o", str(FIX)], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        result = json.loads(out)
        result["files"] = [pathlib.Path(p).name for p in result["files"]]   # relative to the fixture folder
        result["image"] = "Weights/examples/scene.png"
        (FIX / "segment.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    result = json.loads((FIX / "segment.json").read_text())
    masks = [f for f in result["files"] if not f.endswith("overlay.png")]
    assert len(masks) == len(result["masks"]) == 4, (masks, len(result["masks"]))
    bad = 0
    for name, m in zip(masks, result["masks"]):
        seg = m["segmentation"]
        decoded = mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()}).astype(bool)
        png = np.asarray(Image.open(FIX / name)) > 127
        area = int(mask_utils.area({"size": seg["size"], "counts": seg["counts"].encode()}))
        same = decoded.shape == png.shape and bool((decoded == png).all()) and area == m["area"] == int(png.sum())
        print(f"{name}: {'OK' if same else 'DIFFERENT'} ({m['role']}, area {m['area']}, pycocotools {area}, png {int(png.sum())})")
        bad += not same
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
