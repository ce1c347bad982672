#!/usr/bin/env python3
"""Synthetic scenes for Prism's embedded default models: shapes on textured backgrounds, with ground truth.

Each scene has a random size and aspect ratio (native resolution matters for MoonViT), 1–6 objects
(circle, square, triangle, star, diamond, hexagon) in named colours, possibly overlapping, over a plain, noisy,
gradient or striped background. Ground truth per object: shape, colour, size class, centre, box and a
visible-pixel mask (later objects occlude earlier ones).

    python3 Tools/train/scenes.py --seed 0 --out Weights/examples/scene.png   # one example image + JSON
"""
import argparse
import json
import math
import pathlib

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ["circle", "square", "triangle", "star", "diamond", "hexagon"]
COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40),
          "purple": (150, 60, 190), "orange": (245, 140, 30), "white": (245, 245, 245), "black": (20, 20, 20)}


def polygon(shape, cx, cy, r, angle):
    if shape == "square":
        k, off = 4, math.pi / 4
    elif shape == "diamond":
        k, off = 4, 0.0
    elif shape == "triangle":
        k, off = 3, -math.pi / 2
    elif shape == "hexagon":
        k, off = 6, 0.0
    elif shape == "star":
        pts = []
        for i in range(10):
            rr = r if i % 2 == 0 else r * 0.45
            a = -math.pi / 2 + i * math.pi / 5 + angle
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return pts
    else:
        raise ValueError(shape)
    return [(cx + r * math.cos(off + angle + 2 * math.pi * i / k), cy + r * math.sin(off + angle + 2 * math.pi * i / k))
            for i in range(k)]


def background(rng, w, h):
    kind = rng.choice(["plain", "noise", "gradient", "stripes"])
    base = rng.integers(90, 200, 3)
    img = np.ones((h, w, 3)) * base
    if kind == "noise":
        img += rng.normal(0, 18, (h, w, 3))
    elif kind == "gradient":
        other = rng.integers(60, 220, 3)
        t = np.linspace(0, 1, w)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, h)[:, None, None]
        img = img * (1 - t) + other * t
    elif kind == "stripes":
        period = int(rng.integers(6, 20))
        mask = ((np.arange(w)[None, :] + np.arange(h)[:, None]) // period) % 2 == 0
        img[mask] += 25
    return np.clip(img, 0, 255).astype(np.uint8), kind


def make_scene(rng, min_side=160, max_side=448, max_objects=6, radius=(0.07, 0.2), max_occlusion=None, tries=20):
    """One scene. `radius`: object radius range as fractions of the shorter side. `max_occlusion` (None: any
    overlap): an object is re-placed (up to `tries` times, else dropped) when it would hide more than this
    fraction of an earlier object's visible pixels; with None the random stream is the original one."""
    w, h = (int(rng.integers(min_side, max_side + 1)) for _ in range(2))
    pixels, bg = background(rng, w, h)
    canvas = Image.fromarray(pixels)
    n = int(rng.integers(1, max_objects + 1))
    ids = np.zeros((h, w), np.int32)   # visible object index + 1 per pixel
    objects = []
    for i in range(n):
        shape = str(rng.choice(SHAPES))
        color = str(rng.choice(list(COLORS)))
        for _ in range(tries if max_occlusion is not None else 1):
            r = float(rng.uniform(*radius) * min(w, h))
            cx, cy = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
            layer = Image.new("L", (w, h), 0)
            d = ImageDraw.Draw(layer)
            if shape == "circle":
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
            else:
                d.polygon(polygon(shape, cx, cy, r, float(rng.uniform(-0.3, 0.3))), fill=255)
            m = np.asarray(layer) > 127
            if max_occlusion is None or all((m & (ids == j + 1)).sum() <= max_occlusion * max(1, (ids == j + 1).sum())
                                            for j in range(len(objects))):
                break
        else:
            continue
        canvas.paste(COLORS[color], mask=layer)
        ids[m] = len(objects) + 1
        objects.append({"shape": shape, "color": color, "radius": r, "center": [cx, cy]})
    for i, o in enumerate(objects):   # ground truth from what stays visible after occlusion
        m = ids == i + 1
        ys, xs = np.nonzero(m)
        o["area"] = int(m.sum())
        o["box"] = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None
        o["mask"] = m
    objects = [o for o in objects if o["area"] >= 30]
    return {"width": w, "height": h, "background": bg, "image": np.asarray(canvas), "objects": objects}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="PNG path; a .json with the ground truth is written beside it")
    a = ap.parse_args()
    scene = make_scene(np.random.default_rng(a.seed))
    out = pathlib.Path(a.out)
    Image.fromarray(scene["image"]).save(out)
    meta = {k: v for k, v in scene.items() if k != "image"}
    meta["objects"] = [{k: v for k, v in o.items() if k != "mask"} for o in scene["objects"]]
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    print(f"wrote {out} ({scene['width']}×{scene['height']}, {len(scene['objects'])} objects)")


if __name__ == "__main__":
    main()
