#!/usr/bin/env python3
"""Reproduces Prism's embedded models from nothing: tokenizer, prism-vl-tiny and prism-sam-tiny.

    python3 Tools/train/train_all.py --device cuda --out Weights    # the shipped weights (one H100: ≈ 13 min)
    python3 Tools/train/train_all.py --device cpu --out /tmp/w --vlm-steps 300 --vlm-stage2-steps 0 --sam-steps 200

Seeds are fixed (data order: make_dataset's train stream; init: --seed). The VLM trains in two stages (stage 1
from scratch, stage 2 a new cosine schedule from the stage-1 weights on later train scenes) while the SAM model
trains beside it on the same GPU; logs go to OUT/train-vlm.log and OUT/train-sam.log.
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
    ap.add_argument("--vlm-steps", type=int, default=2800, help="VLM stage 1 steps (24 scenes × 8 questions)")
    ap.add_argument("--vlm-stage2-steps", type=int, default=3600, help="VLM stage 2 steps (0: none)")
    ap.add_argument("--sam-steps", type=int, default=2800, help="SAM steps (16 scenes × 4 objects × 3 prompts)")
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
    stage1 = a.out / "prism-vl-tiny-stage1"
    q = lambda cmd: " ".join(map(str, cmd))
    vlm_stage1 = [py, HERE / "train_vlm.py", "--tokenizer", vl, "--out", stage1, "--steps", a.vlm_steps,
                  "--workers", a.vlm_workers] + common
    # stage 2: a fresh schedule (lr 7e-4) on the next part of the train stream, from the stage-1 weights
    vlm_stage2 = [py, HERE / "train_vlm.py", "--tokenizer", vl, "--init", stage1, "--out", vl,
                  "--steps", a.vlm_stage2_steps, "--offset", a.vlm_steps * 24, "--lr", "7e-4", "--warmup", "100",
                  "--workers", a.vlm_workers] + common
    jobs = [
        ("vlm", q(vlm_stage1) + (" && " + q(vlm_stage2) if a.vlm_stage2_steps else f" && cp {stage1}/* {vl}/")),
        ("sam", q([py, HERE / "train_sam.py", "--out", sam, "--steps", a.sam_steps, "--workers", a.sam_workers] + common)),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = []
    for name, cmd in jobs:
        log = open(a.out / f"train-{name}.log", "w")
        print(cmd, flush=True)
        p = subprocess.Popen(cmd, shell=True, stdout=log, stderr=subprocess.STDOUT, env=env)
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
