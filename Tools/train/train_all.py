#!/usr/bin/env python3
"""Reproduces Prism's embedded models from nothing: tokenizer, prism-vl-tiny and prism-sam-tiny.

    python3 Tools/train/train_all.py --device cuda --out Weights           # the shipped weights (H100: ≈ 9 min)
    python3 Tools/train/train_all.py --device cpu --out /tmp/w --vlm-steps 300 --sam-steps 200   # slow, smaller

Seeds are fixed (data order: make_dataset's train stream; init: --seed). The two models train at the same time
on one GPU (--parallel, the default on cuda); logs go to OUT/train-vlm.log and OUT/train-sam.log.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default="Weights", type=pathlib.Path)
    ap.add_argument("--vlm-steps", type=int, default=6000)
    ap.add_argument("--sam-steps", type=int, default=4000)
    ap.add_argument("--vlm-workers", type=int, default=9)
    ap.add_argument("--sam-workers", type=int, default=6)
    ap.add_argument("--max-minutes", type=float, default=0, help="per model: stop early and save (safety net)")
    ap.add_argument("--tokenizer-scenes", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sequential", action="store_true", help="train one model after the other")
    a = ap.parse_args()
    vl, sam = a.out / "prism-vl-tiny", a.out / "prism-sam-tiny"
    vl.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    py = sys.executable
    subprocess.run([py, str(HERE / "tokenizer.py"), "--out", str(vl), "--scenes", str(a.tokenizer_scenes)], check=True)
    print(f"tokenizer: {time.time() - t0:.0f} s", flush=True)
    common = ["--device", a.device, "--seed", str(a.seed)] + (["--max-minutes", str(a.max_minutes)] if a.max_minutes else [])
    jobs = [
        ("vlm", [py, str(HERE / "train_vlm.py"), "--tokenizer", str(vl), "--out", str(vl), "--steps", str(a.vlm_steps),
                 "--workers", str(a.vlm_workers)] + common),
        ("sam", [py, str(HERE / "train_sam.py"), "--out", str(sam), "--steps", str(a.sam_steps),
                 "--workers", str(a.sam_workers)] + common),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = []
    for name, cmd in jobs:
        log = open(a.out / f"train-{name}.log", "w")
        print(" ".join(cmd), flush=True)
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        if a.sequential or a.device != "cuda":
            p.wait()
        procs.append((name, p))
    rc = 0
    for name, p in procs:
        rc |= p.wait()
        print(f"{name}: exit {p.returncode}, {(time.time() - t0) / 60:.1f} min", flush=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
