#!/usr/bin/env python3
"""The synthetic-scenes dataset: train / validation / test splits from separate seeds, written as JSONL + PNG
files and converted to TFRecord shards of tf.Example by `prism convert`.

    python3 Tools/train/make_dataset.py --out /tmp/scenes                      # default sizes
    python3 Tools/train/make_dataset.py --out /tmp/scenes --splits test --test 1000

Each split is one random stream: example i of a split is a pure function of (split seed, i), so any example can
be regenerated alone, and training (train_vlm.py, train_sam.py) reads the train stream directly instead of the
files. One scene gives `questions` records (train 8, validation/test 1): same image, different questions.

Record (JSONL field → tf.Example key; conventional names renamed by `prism convert`):
  image → image/encoded (PNG), format → image/format, height/width → image/height, image/width
  xmin, ymin, xmax, ymax → image/object/bbox/* (float, normalised to [0, 1]; x1, y1 exclusive)
  classes → image/object/class/text (shape), masks → image/object/mask (one PNG per object, 0/255, visible pixels)
  image/object/color (bytes), image/object/area (int64, visible pixels),
  image/object/point (float [x, y] per object: the pixel farthest from the edge, the 1-point prompt),
  image/object/points3 (float [x, y] × 3 per object: that point and two random mask pixels, the 3-point prompt)
  question, answer → question, answer; question_type (bytes); answer_object (int64, object index or -1)
  scene/seed (int64 [split seed, index]), scene/background (bytes)
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import qa          # noqa: E402
import scenes      # noqa: E402

SPLIT_SEEDS = {"train": 1000, "validation": 2000, "test": 3000,
               "train2": 1100, "validation2": 2100, "test2": 4000, "plain": 5000, "multiturn": 6000}
QUESTIONS = {"train": 8, "validation": 1, "test": 1, "train2": 8, "validation2": 1, "test2": 1, "plain": 1,
             "multiturn": 1}
# Scene parameters of the embedded models: sides 128–336 px, so a scene is at most 24×24 patches of 14 px and
# MoonViT sees it at native resolution (in_token_limit 576); objects no smaller than a tenth of the short side.
SCENE = dict(min_side=128, max_side=336, max_objects=6, radius=(0.1, 0.22), max_occlusion=0.2)
# The diverse scenes (issue #18): backgrounds across the whole range (scenes.py style "v2"), 1–8 objects, sides
# 64–448 px capped at in_token_limit·14² pixels, smaller objects too.
SCENE_V2 = dict(min_side=64, max_side=448, max_objects=8, radius=(0.07, 0.22), max_occlusion=0.2, style="v2",
                max_pixels=576 * 14 * 14)
SPLIT_SCENE = {"train": SCENE, "validation": SCENE, "test": SCENE, "train2": SCENE_V2, "validation2": SCENE_V2,
               "test2": SCENE_V2, "plain": {**SCENE_V2, "kinds": scenes.PLAIN_KINDS}, "multiturn": SCENE_V2}
# v2 splits save some images as JPEG (quality 70–95), so the model also sees compression artefacts.
JPEG_SHARE = 0.3
ROOT = pathlib.Path(__file__).resolve().parents[2]


def scene(split, i):
    """The scene of example i of `split` alone (the same image and objects as example(split, i))."""
    return scenes.make_scene(np.random.default_rng((SPLIT_SEEDS[split], i)), **SPLIT_SCENE[split])


def history(scene, rng, split):
    """1–3 earlier (question, answer) turns about the same scene for the multi-turn split, else none."""
    if split != "multiturn":
        return []
    return [qa.sample(scene, rng, phrasing=True)[1:3] for _ in range(int(rng.integers(1, 4)))]


def example(split, i, questions=None):
    """(scene, [(type, question, answer, object)], prompt points) for example i of `split`."""
    rng = np.random.default_rng((SPLIT_SEEDS[split], i))
    scene = scenes.make_scene(rng, **SPLIT_SCENE[split])
    qs = [qa.sample(scene, rng, phrasing=SPLIT_SCENE[split] is not SCENE) for _ in range(questions or QUESTIONS[split])]
    points = []
    for o in scene["objects"]:
        p1 = qa.interior(o)
        ys, xs = np.nonzero(o["mask"])
        k = rng.integers(len(xs), size=2)
        points.append((p1, [p1, (int(xs[k[0]]), int(ys[k[0]])), (int(xs[k[1]]), int(ys[k[1]]))]))
    scene["history"] = history(scene, rng, split)
    return scene, qs, points


def write_example(args):
    split, i, folder = args
    scene, qs, points = example(split, i)
    rng = np.random.default_rng((SPLIT_SEEDS[split], i, 7))
    if SPLIT_SCENE[split] is not SCENE and rng.random() < JPEG_SHARE:
        img, fmt_ = f"images/{split}-{i:06d}.jpg", "jpeg"
        Image.fromarray(scene["image"]).save(folder / img, quality=int(rng.integers(70, 96)))
    else:
        img, fmt_ = f"images/{split}-{i:06d}.png", "png"
        Image.fromarray(scene["image"]).save(folder / img, compress_level=1)
    masks = []
    for k, o in enumerate(scene["objects"]):
        m = f"masks/{split}-{i:06d}-{k}.png"
        Image.fromarray((o["mask"] * 255).astype(np.uint8)).save(folder / m, optimize=True)
        masks.append(m)
    w, h, objs = scene["width"], scene["height"], scene["objects"]
    base = {
        "image": img, "format": fmt_, "height": h, "width": w,
        "xmin": {"float": [o["box"][0] / w for o in objs]}, "ymin": {"float": [o["box"][1] / h for o in objs]},
        "xmax": {"float": [o["box"][2] / w for o in objs]}, "ymax": {"float": [o["box"][3] / h for o in objs]},
        "classes": [o["shape"] for o in objs], "masks": masks,
        "image/object/color": {"bytes": [o["color"] for o in objs]},
        "image/object/area": {"int64": [o["area"] for o in objs]},
        "image/object/point": {"float": [float(c) for p1, _ in points for c in p1]},
        "image/object/points3": {"float": [float(c) for _, p3 in points for p in p3 for c in p]},
        "scene/seed": {"int64": [SPLIT_SEEDS[split], i]}, "scene/background": scene["background"],
    }
    if scene["history"]:   # earlier turns of the conversation, asked before the scored question
        base["history/question"] = {"bytes": [q for q, _ in scene["history"]]}
        base["history/answer"] = {"bytes": [a for _, a in scene["history"]]}
    lines = []
    for t, q, a, obj in qs:
        lines.append(json.dumps({**base, "question": q, "answer": a, "question_type": t, "answer_object": obj}))
    return lines


def write_split(split, count, out, jobs, prism, shards_of, compression):
    folder = out / split
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    with Pool(jobs) as pool:
        chunks = pool.map(write_example, [(split, i, folder) for i in range(count)], chunksize=16)
    lines = [line for chunk in chunks for line in chunk]
    (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    print(f"{split}: {count} scenes, {len(lines)} records → {folder}/{split}.jsonl", flush=True)
    if prism:
        cmd = [prism, "convert", str(folder / f"{split}.jsonl"), "-o", str(out / "tfrecord"), "--name", split,
               "--records-per-shard", str(shards_of), "--compression", compression, "--quiet"]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--splits", default="train,validation,test")
    ap.add_argument("--train", type=int, default=2500, help="train scenes (× 8 questions)")
    ap.add_argument("--validation", type=int, default=500, help="validation scenes")
    ap.add_argument("--test", type=int, default=1000, help="test scenes")
    ap.add_argument("--train2", type=int, default=2500, help="diverse train scenes (× 8 questions)")
    ap.add_argument("--validation2", type=int, default=500, help="diverse validation scenes")
    ap.add_argument("--test2", type=int, default=1000, help="diverse held-out test scenes")
    ap.add_argument("--plain", type=int, default=500, help="plain-background test scenes (white, black, grey, flat colour)")
    ap.add_argument("--multiturn", type=int, default=500, help="diverse test scenes, scored after 1–3 earlier turns")
    ap.add_argument("--records-per-shard", type=int, default=500)
    ap.add_argument("--compression", default="gzip", choices=["none", "gzip", "zlib"])
    ap.add_argument("--prism", default=str(ROOT / ".build/release/prism"),
                    help="prism binary for the TFRecord conversion ('' to write JSONL + PNG only)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    a = ap.parse_args()
    if a.prism and not pathlib.Path(a.prism).exists():
        sys.exit(f"error: {a.prism} not found (build with `swift build -c release`, or pass --prism '')")
    for split in a.splits.split(","):
        write_split(split, getattr(a, split), a.out, a.jobs, a.prism, a.records_per_shard, a.compression)


if __name__ == "__main__":
    main()
