#!/usr/bin/env python3
"""Segment-everything speed: `prism segment --everything` vs segment-anything's SamAutomaticMaskGenerator, same
model (Weights/prism-sam-tiny by default), same image, same settings, same run, both with the embedding cached.

    PYTHONPATH=/tmp/sa python3 Tools/bench/sam/automask.py [--image Weights/examples/scene.png] [--runs 3]
        [--model Weights/prism-sam-tiny] [--prism .build/release/prism]

prism: `prism segment IMAGE --everything --embedding-cache F` run once to fill the cache, then --runs times; each
run prints "everything: N masks from 1024 clicks in X s", the time of the whole generator (decoding the 32² clicks,
filters, NMS, RLE) without the embedding. PyTorch: the generator of Tools/reference/automask_fixtures.py
(segment-anything 1.0 driving transformers' SamModel) with set_image replaced by the stored embedding, timed around
generate(); torch threads = cores. Reports medians and the ratio. Needs torch, transformers, segment-anything
(pip install --no-deps), pycocotools. Run under `flock /tmp/prism-bench.lock` on a shared machine.
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
import types

import numpy as np
import torch
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "Tools/reference"))


def time_prism(prism, model, image, runs):
    cache = pathlib.Path(tempfile.mkdtemp()) / "embedding.safetensors"
    out = pathlib.Path(tempfile.mkdtemp())
    cmd = [prism, "segment", image, "--everything", "-m", model, "--embedding-cache", str(cache), "-o", str(out)]
    times, count = [], None
    for i in range(runs + 1):
        text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        m = re.search(r"everything: (\d+) masks from (\d+) clicks in ([0-9.]+) s", text)
        count, clicks = int(m.group(1)), int(m.group(2))
        if i > 0:                                  # the first run fills the embedding cache
            times.append(float(m.group(3)))
    return statistics.median(times), count, clicks


def time_torch(model, image, runs):
    from transformers import SamModel
    import automask_fixtures as ref
    ref.install_torchvision_stand_in()
    from segment_anything import SamAutomaticMaskGenerator
    torch.set_num_threads(os.cpu_count())
    hf = SamModel.from_pretrained(model, torch_dtype=torch.float32).eval()
    pixels = np.asarray(Image.open(image).convert("RGB"))
    predictor = ref.HFSamPredictor(hf)
    predictor.set_image(pixels)
    stored = (predictor.features, predictor.original_size, predictor.input_size)

    def cached_set_image(img, image_format="RGB"):
        predictor.features, predictor.original_size, predictor.input_size = stored
        predictor.is_image_set = True

    predictor.set_image = cached_set_image
    predictor.reset_image = lambda: None
    gen = SamAutomaticMaskGenerator(types.SimpleNamespace(image_encoder=types.SimpleNamespace(img_size=predictor.img_size)),
                                    output_mode="coco_rle")
    gen.predictor = predictor
    times, count = [], None
    for i in range(runs + 1):
        t = time.perf_counter()
        count = len(gen.generate(pixels))
        if i > 0:
            times.append(time.perf_counter() - t)
    return statistics.median(times), count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default=str(ROOT / "Weights/examples/scene.png"))
    ap.add_argument("--model", default=str(ROOT / "Weights/prism-sam-tiny"))
    ap.add_argument("--prism", default=str(ROOT / ".build/release/prism"))
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    p, pc, clicks = time_prism(a.prism, a.model, a.image, a.runs)
    print(f"prism    everything: {pc} masks from {clicks} clicks in {p:.3f} s (median of {a.runs}, embedding cached)")
    t, tc = time_torch(a.model, a.image, a.runs)
    print(f"PyTorch  SamAutomaticMaskGenerator: {tc} masks in {t:.3f} s (median of {a.runs}, embedding cached, "
          f"torch {torch.__version__}, {os.cpu_count()} threads)")
    print(f"prism is {t / p:.1f}x faster")


if __name__ == "__main__":
    main()
