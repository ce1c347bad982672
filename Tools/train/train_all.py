#!/usr/bin/env python3
"""Reproduces Prism's embedded models from nothing: tokenizer, prism-vl-tiny and prism-sam-tiny.

    python3 Tools/train/train_all.py --device cuda --out Weights    # the shipped weights (one H100: ≈ 13 min)
    python3 Tools/train/train_all.py --device cpu --out /tmp/w --vlm-steps 300 --vlm-stage2-steps 0 --sam-steps 200

Seeds are fixed (data order: make_dataset's train stream; init: --seed). The VLM trains in two stages (stage 1
from scratch, stage 2 a new cosine schedule from the stage-1 weights on later train scenes; an optional stage 3,
--vlm-stage3-steps, adds multi-turn conversations and oversamples the hard question types) while the SAM model
trains beside it on the same GPU and then has its IoU head tuned (tune_sam_iou.py); logs go to
OUT/train-vlm.log and OUT/train-sam.log.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
STAGE3_STEPS = 0        # stage 3 is optional: its CPU run did not beat stage 2 (Tools/train/README.md)
STAGE3 = ["--scenes", "8", "--questions", "16", "--turns", "4", "--type-weights", "0.4,1.5,0.8,2.5,1,0.8,1,2,2",
          "--aux-boxes", "--lr", "5e-4", "--warmup", "50", "--offset", "200000", "--val", "0"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default="Weights", type=pathlib.Path)
    ap.add_argument("--vlm-steps", type=int, default=2800, help="VLM stage 1 steps (24 scenes × 8 questions)")
    ap.add_argument("--vlm-stage2-steps", type=int, default=3600, help="VLM stage 2 steps (0: none)")
    ap.add_argument("--vlm-stage3-steps", type=int, default=STAGE3_STEPS,
                    help="VLM stage 3 steps (8 scenes × 16 questions as 4-turn conversations, hard types oversampled, "
                         "box/point cell probes; 0: none)")
    ap.add_argument("--sam-steps", type=int, default=2800, help="SAM steps (16 scenes × 4 objects × 3 prompts)")
    ap.add_argument("--sam-iou-scenes", type=int, default=800, help="scenes for the IoU-head tuning (0: none)")
    ap.add_argument("--vlm-workers", type=int, default=9)
    ap.add_argument("--sam-workers", type=int, default=6)
    ap.add_argument("--max-minutes", type=float, default=0, help="per model: stop early and save (safety net)")
    ap.add_argument("--tokenizer-scenes", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sequential", action="store_true", help="train one model after the other")
    ap.add_argument("--split", default="train", choices=["train", "train2"],
                    help="train stream for both models: train (the shipped weights) or train2 (issue #18's diverse scenes)")
    a = ap.parse_args()
    vl, sam = a.out / "prism-vl-tiny", a.out / "prism-sam-tiny"
    vl.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    py = sys.executable
    subprocess.run([py, str(HERE / "tokenizer.py"), "--out", str(vl), "--scenes", str(a.tokenizer_scenes)], check=True)
    print(f"tokenizer: {time.time() - t0:.0f} s", flush=True)
    common = ["--device", a.device, "--seed", str(a.seed), "--split", a.split] + (["--max-minutes", str(a.max_minutes)] if a.max_minutes else [])
    q = lambda cmd: " ".join(map(str, cmd))
    # VLM stages, each a new schedule from the previous stage's weights on later train scenes; the last writes vl.
    #   1: from scratch, 24 scenes × 8 single-question sequences per step
    #   2: lr 7e-4, the next part of the train stream
    #   3: 4-turn conversations about each image, the hard question types oversampled, and probes that make every
    #      object cell carry its box and point (the shipped stage 3 ran on a 2-core CPU)
    stages = [(1, a.vlm_steps, ["--workers", a.vlm_workers]),
              (2, a.vlm_stage2_steps, ["--offset", a.vlm_steps * 24, "--lr", "7e-4", "--warmup", "100",
                                       "--workers", a.vlm_workers]),
              (3, a.vlm_stage3_steps, ["--workers", "1"] + STAGE3)]
    stages = [s for s in stages if s[1]]
    cmds, prev = [], None
    for k, (n, steps, extra) in enumerate(stages):
        out = vl if k == len(stages) - 1 else a.out / f"prism-vl-tiny-stage{n}"
        cmds.append(q([py, HERE / "train_vlm.py", "--tokenizer", vl, "--out", out, "--steps", steps] + extra
                      + (["--init", prev] if prev else []) + common))
        prev = out
    sam_stage1 = a.out / "prism-sam-tiny-stage1"
    sam_cmd = q([py, HERE / "train_sam.py", "--out", sam_stage1 if a.sam_iou_scenes else sam, "--steps", a.sam_steps,
                 "--workers", a.sam_workers] + common)
    if a.sam_iou_scenes:   # then the IoU head alone, so the best-scored of a click's three masks is the best one
        sam_cmd += " && " + q([py, HERE / "tune_sam_iou.py", "--model", sam_stage1, "--out", sam,
                               "--scenes", a.sam_iou_scenes, "--seed", a.seed])
    jobs = [("vlm", " && ".join(cmds)), ("sam", sam_cmd)]
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
