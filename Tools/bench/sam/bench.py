#!/usr/bin/env python3
"""SAM ViT-B speed on this machine: prism vs PyTorch transformers SamModel, same weights, same run.

    python3 Tools/bench/sam/bench.py [--model-dir /tmp/prism-sam-vitb-random] [--runs 3] [--prism .build/release/prism]

1. Writes a random-weight ViT-B SamModel checkpoint in the transformers layout (save_pretrained: config.json +
   model.safetensors, ~375 MB) unless the directory already has one. It is NOT committed.
2. Runs `prism bench sam -m DIR --runs N --precision P`, which prints the CPU/oneDNN header, `encoder: X s` and
   `decoder: Y ms` (PrismSAM's benchmarkSAM): P = f32, and bf16 too where the CPU has native bf16 kernels.
3. Times PyTorch in fp32 and with bf16 autocast (torch.autocast("cpu", dtype=torch.bfloat16), the encoder only):
   image encoder on a 1024² input (median of --runs after one warm-up) and prompt encoder + mask decoder for one
   click, multimask (median of 20 after warm-up), torch threads = cores.
4. Prints every row with its ratio to each PyTorch row.
Needs torch, transformers, safetensors from PyPI. Build prism first: swift build -c release.
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

import torch
from transformers import SamConfig, SamModel

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "reference"))
from sam_fixtures import randomize  # noqa: E402  (same non-trivial random init as the fixtures)


def write_checkpoint(directory):
    if (directory / "model.safetensors").exists():
        return
    model = SamModel(SamConfig()).eval()
    randomize(model, 99)
    model.save_pretrained(directory, safe_serialization=True)


def time_torch_encoder_bf16(directory, runs):
    """The encoder under bf16 autocast (what PyTorch users run on bf16 CPUs)."""
    torch.set_num_threads(os.cpu_count())
    model = SamModel.from_pretrained(directory, attn_implementation="sdpa").eval()
    pixels = torch.randn(1, 3, 1024, 1024)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        model.get_image_embeddings(pixels)
        enc = []
        for _ in range(runs):
            t = time.perf_counter(); model.get_image_embeddings(pixels); enc.append(time.perf_counter() - t)
    return statistics.median(enc)


def time_torch(directory, runs):
    torch.set_num_threads(os.cpu_count())
    model = SamModel.from_pretrained(directory, attn_implementation="sdpa").eval()
    pixels = torch.randn(1, 3, 1024, 1024)
    with torch.inference_mode():
        model.get_image_embeddings(pixels)
        enc = []
        for _ in range(runs):
            t = time.perf_counter(); emb = model.get_image_embeddings(pixels); enc.append(time.perf_counter() - t)
        points, labels = torch.tensor([[[[400.0, 300.0]]]]), torch.tensor([[[1]]])
        model(image_embeddings=emb, input_points=points, input_labels=labels, multimask_output=True)
        dec = []
        for _ in range(20):
            t = time.perf_counter()
            model(image_embeddings=emb, input_points=points, input_labels=labels, multimask_output=True)
            dec.append(time.perf_counter() - t)
    return statistics.median(enc), 1000 * statistics.median(dec)


def time_prism(prism, directory, runs, precision):
    out = subprocess.run([prism, "bench", "sam", "-m", str(directory), "--runs", str(runs), "--precision", precision],
                         capture_output=True, text=True, check=True).stdout
    enc = float(re.search(r"encoder:\s*([0-9.]+)\s*s", out).group(1))
    dec = float(re.search(r"decoder:\s*([0-9.]+)\s*ms", out).group(1))
    return enc, dec, out.splitlines()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default="/tmp/prism-sam-vitb-random")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prism", default=".build/release/prism")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-torch-bf16", action="store_true",
                    help="skip PyTorch's bf16 autocast (minutes on CPUs without bf16 instructions, where it is emulated)")
    a = ap.parse_args()
    d = pathlib.Path(a.model_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_checkpoint(d)
    pe, pd, header = time_prism(a.prism, d, a.runs, "f32")
    print(header)
    rows = [("prism f32", pe, pd)]
    if "native bf16: yes" in header:
        be, bd, _ = time_prism(a.prism, d, a.runs, "bf16")
        rows.append(("prism bf16", be, bd))
    if not a.skip_torch:
        te, td = time_torch(d, a.runs)
        rows.append((f"PyTorch {torch.__version__} fp32", te, td))
        tb = None if a.skip_torch_bf16 else time_torch_encoder_bf16(d, a.runs)
        if tb is not None:
            rows.append(("PyTorch bf16 autocast", tb, None))
    print(f"{'':26} {'encoder 1024²':>14} {'decoder (1 click, 3 masks)':>28}   ({os.cpu_count()} threads)")
    for name, e, dd in rows:
        print(f"{name:26} {e:12.2f} s {dd:25.1f} ms" if dd is not None else f"{name:26} {e:12.2f} s {'—':>28}")
    if not a.skip_torch:
        for name, e, dd in [r for r in rows if r[0].startswith("prism")]:
            ratios = [f"{te / e:.2f}× faster than PyTorch fp32"] + ([f"{tb / e:.2f}× than bf16 autocast (encoder)"] if tb else []) \
                + [f"decoder {td / dd:.2f}× faster than PyTorch"]
            print(f"{name}: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
