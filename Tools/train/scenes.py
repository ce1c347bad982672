#!/usr/bin/env python3
"""Synthetic scenes for Prism's embedded default models: shapes on textured backgrounds, with ground truth.

Each scene has a random size and aspect ratio (native resolution matters for MoonViT), 1–6 objects
(circle, square, triangle, star, diamond, hexagon) in named colours, possibly overlapping, over a plain, noisy,
gradient or striped background. Ground truth per object: shape, colour, size class, centre, box and a
visible-pixel mask (later objects occlude earlier ones).

Two background styles:
- "v1" (the shipped models' data): mid-range backgrounds (channel values 90–200) only, so a white (245) or
  black (20) object is never confused with the background, but a plain white or black background is never seen;
- "v2": backgrounds across the whole range — plain white, black, any grey, saturated colours, gradients between
  any two, noise, stripes and soft (blurred-noise) textures — with each object's colour drawn among those that
  stand out from the background under it (RGB distance ≥ MIN_CONTRAST), so colour names stay canonical and
  every object stays distinguishable. `kinds` restricts the background kinds (the plain-background split).

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


V2_KINDS = ["white", "black", "grey", "saturated", "plain", "noise", "gradient", "stripes", "texture"]
PLAIN_KINDS = ["white", "black", "grey", "saturated"]
SATURATED = [(200, 30, 30), (30, 150, 50), (30, 60, 200), (230, 200, 30), (130, 40, 170), (240, 120, 20),
             (20, 170, 170), (200, 40, 140)]
# An object's colour must differ from the background under it by at least this RGB distance.
MIN_CONTRAST = 90.0


def background_v2(rng, w, h, kinds=V2_KINDS):
    """The whole range of backgrounds (see the module doc); returns (uint8 pixels, kind)."""
    kind = str(rng.choice(kinds))
    if kind == "white":
        base = rng.integers(235, 256, 3) if rng.random() < 0.5 else np.full(3, int(rng.integers(235, 256)))
    elif kind == "black":
        base = np.full(3, int(rng.integers(0, 30)))
    elif kind == "grey":
        base = np.full(3, int(rng.integers(0, 256)))
    elif kind == "saturated":
        base = np.array(SATURATED[int(rng.integers(len(SATURATED)))]) + rng.integers(-15, 16, 3)
    else:
        base = rng.integers(0, 256, 3)
    img = np.ones((h, w, 3)) * base
    if kind == "noise":
        img += rng.normal(0, float(rng.uniform(8, 30)), (h, w, 3))
    elif kind == "gradient":
        other = rng.integers(0, 256, 3)
        t = np.linspace(0, 1, w)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, h)[:, None, None]
        img = img * (1 - t) + other * t
    elif kind == "stripes":
        period = int(rng.integers(4, 24))
        mask = ((np.arange(w)[None, :] + np.arange(h)[:, None] * int(rng.choice([-1, 0, 1]))) // period) % 2 == 0
        img[mask] += rng.integers(-40, 41, 3)
    elif kind == "texture":
        coarse = rng.normal(0, 25, (max(2, h // 16), max(2, w // 16), 3))
        soft = np.asarray(Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), np.float64)
        img += soft - 128
    return np.clip(img, 0, 255).astype(np.uint8), kind


def contrasting_colors(pixels, mask):
    """Colour names that stand out from the background pixels under `mask` (mean RGB distance ≥ MIN_CONTRAST)."""
    under = pixels[mask].astype(np.float64)
    if not len(under):
        return list(COLORS)
    return [c for c, rgb in COLORS.items()
            if np.sqrt(((under - np.asarray(rgb, np.float64)) ** 2).sum(1)).mean() >= MIN_CONTRAST]


def make_scene(rng, min_side=160, max_side=448, max_objects=6, radius=(0.07, 0.2), max_occlusion=None, tries=20,
               style="v1", kinds=None, max_pixels=None):
    """One scene. `radius`: object radius range as fractions of the shorter side. `max_occlusion` (None: any
    overlap): an object is re-placed (up to `tries` times, else dropped) when it would hide more than this
    fraction of an earlier object's visible pixels; with None the random stream is the original one.
    `style` "v2" draws backgrounds from `kinds` (default V2_KINDS) and contrasting colours; `max_pixels` caps
    w·h by scaling both sides down (the model's in_token_limit). Style "v1" keeps the original random stream."""
    w, h = (int(rng.integers(min_side, max_side + 1)) for _ in range(2))
    if max_pixels and w * h > max_pixels:
        f = (max_pixels / (w * h)) ** 0.5
        w, h = max(min_side // 2, int(w * f)), max(min_side // 2, int(h * f))
    pixels, bg = background(rng, w, h) if style == "v1" else background_v2(rng, w, h, kinds or V2_KINDS)
    canvas = Image.fromarray(pixels)
    n = int(rng.integers(1, max_objects + 1))
    ids = np.zeros((h, w), np.int32)   # visible object index + 1 per pixel
    objects = []
    for i in range(n):
        shape = str(rng.choice(SHAPES))
        color = None if style == "v2" else str(rng.choice(list(COLORS)))
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
            if style == "v2":   # colour chosen where the object lands, among those that stand out there
                fits = contrasting_colors(pixels, m)
                if not fits:
                    continue
                color = str(rng.choice(fits))
            if max_occlusion is None or all((m & (ids == j + 1)).sum() <= max_occlusion * max(1, (ids == j + 1).sum())
                                            for j in range(len(objects))):
                break
        else:
            continue
        if color is None:   # v2 without a contrasting colour at any tried place: the object is dropped
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
    ap.add_argument("--style", choices=["v1", "v2"], default="v1", help="background style (default v1)")
    ap.add_argument("--out", required=True, help="PNG path; a .json with the ground truth is written beside it")
    a = ap.parse_args()
    scene = make_scene(np.random.default_rng(a.seed), style=a.style)
    out = pathlib.Path(a.out)
    Image.fromarray(scene["image"]).save(out)
    meta = {k: v for k, v in scene.items() if k != "image"}
    meta["objects"] = [{k: v for k, v in o.items() if k != "mask"} for o in scene["objects"]]
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    print(f"wrote {out} ({scene['width']}×{scene['height']}, {len(scene['objects'])} objects)")


if __name__ == "__main__":
    main()
