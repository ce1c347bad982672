#!/usr/bin/env python3
"""bf16 against f32 on the embedded models' held-out task: `prism eval` on the first N test records, both precisions.

    python3 Tools/eval_precision.py [--records 200] [--data DIR] [--prism .build/release/prism]

1. Writes the first --records scenes of the synthetic test split (Tools/train/make_dataset.py: example i is a pure
   function of the split seed and i, so these are the first N of the README's 1000) unless --data has TFRecords.
2. Runs `prism eval vqa` (Weights/prism-vl-tiny) and `prism eval seg` (Weights/prism-sam-tiny) with --limit N at
   --precision f32 and bf16. On a CPU without native bf16 kernels the bf16 run uses the emulation
   (PRISM_BF16_EMULATION=1: the same numerics, at f32 speed or below).
3. Prints overall VQA accuracy and mIoU per prompt kind for both, and exits 1 if any differs by more than
   --tolerance (default 1 point = 0.01).
Needs numpy and pillow (for the dataset) and a release build.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_eval(prism, kind, files, limit, precision):
    env = dict(os.environ, PRISM_BF16_EMULATION="1", PRISM_PRECISION=precision)
    t = time.time()
    out = subprocess.run([prism, "eval", kind, "--data", *files, "--limit", str(limit), "--precision", precision],
                         capture_output=True, text=True, env=env, check=True).stdout
    seconds = time.time() - t
    if kind == "vqa":
        m = re.search(r"^overall\s+(\d+)\s+([0-9.]+)", out, re.M)
        return {"accuracy": float(m.group(2))}, seconds
    return {k: float(v) for k, v in re.findall(r"^(\S+-?\S*)\s+\d+\s+([0-9.]+)\s+[0-9.]+\s+[0-9.]+$", out, re.M)}, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--data", type=pathlib.Path, default=pathlib.Path("/tmp/prism-precision-eval"))
    ap.add_argument("--prism", default=str(ROOT / ".build/release/prism"))
    ap.add_argument("--tolerance", type=float, default=0.01)
    a = ap.parse_args()
    files = sorted(str(p) for p in (a.data / "tfrecord").glob("test-*.tfrecord*"))
    if not files:
        subprocess.run([sys.executable, str(ROOT / "Tools/train/make_dataset.py"), "--out", str(a.data), "--splits", "test",
                        "--test", str(a.records), "--prism", a.prism], check=True)
        files = sorted(str(p) for p in (a.data / "tfrecord").glob("test-*.tfrecord*"))
    worst = 0.0
    for kind in ["vqa", "seg"]:
        (f32, t32), (b16, t16) = (run_eval(a.prism, kind, files, a.records, p) for p in ["f32", "bf16"])
        for metric in f32:
            delta = b16[metric] - f32[metric]
            worst = max(worst, abs(delta))
            print(f"{kind:4} {metric:9} f32 {f32[metric]:.3f}  bf16 {b16[metric]:.3f}  Δ {delta:+.3f}")
        print(f"{kind:4} time      f32 {t32:.0f} s  bf16 {t16:.0f} s")
    ok = worst <= a.tolerance
    print(f"largest |Δ| {worst:.3f} ({'within' if ok else 'OUTSIDE'} {a.tolerance:.3f}) on {a.records} records")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
