#!/usr/bin/env python3
"""Question/answer pairs about a scene from scenes.py, with a question-type label.

Answers are short and canonical (lower case, no final period; numbers as digits; pixel coordinates as
integers) so exact match is meaningful. Objects are named by their shortest unique phrase: the shape if no
other object has that shape ("star"), else colour and shape ("red star"); objects with no unique phrase are
never referred to.

| type       | question                                           | answer                              |
|------------|----------------------------------------------------|-------------------------------------|
| color      | What color is the star?                            | red                                 |
| shape_at   | What shape is at (120, 84)?                        | star                                |
| count      | How many red objects are there? / …circles…?       | 2                                   |
| relation   | Is the star left of the blue circle?               | yes / no                            |
| bigger     | Which is bigger, the star or the blue circle?      | blue circle                         |
| exists     | Is there a green triangle?                         | yes / no                            |
| describe   | Describe the image.                                | red star, blue circle (left → right)|
| box        | Where is the star? Answer with a box.              | (101, 64, 140, 105)                 |
| point      | Point to the star.                                 | (120, 84)                           |

Grounding answers (box, point, and the point in shape_at questions) are pixels of the original image: a box
is (x0, y0, x1, y1) with x1, y1 exclusive, a point is the visible pixel farthest from the object's edge.
Scoring (score_answer): exact string match, except box (IoU ≥ 0.5 with the true box) and point (inside
the object's visible mask); exact match is reported for those too.

    python3 Tools/train/qa.py --seed 3        # prints a scene's questions
"""
import argparse
import re

import numpy as np
from scipy import ndimage

from scenes import COLORS, SHAPES

TYPES = ["color", "shape_at", "count", "relation", "bigger", "exists", "describe", "box", "point"]
PLURAL = {s: s + "es" if s.endswith("x") else s + "s" for s in SHAPES}


def interior_point(mask):
    """The visible pixel farthest from the mask's edge (ties: first in row-major order), as (x, y)."""
    d = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y)


def interior(o):
    """interior_point of an object's mask, computed once per object (the distance transform dominates generation)."""
    if "_interior" not in o:
        o["_interior"] = interior_point(o["mask"])
    return o["_interior"]


def phrases(objects):
    """Shortest unique phrase per object, or None."""
    out = []
    for o in objects:
        if sum(p["shape"] == o["shape"] for p in objects) == 1:
            out.append(o["shape"])
        elif sum(p["shape"] == o["shape"] and p["color"] == o["color"] for p in objects) == 1:
            out.append(f"{o['color']} {o['shape']}")
        else:
            out.append(None)
    return out


def fmt(*v):
    return "(" + ", ".join(str(int(x)) for x in v) + ")"


def visible_center(o):
    ys, xs = np.nonzero(o["mask"])
    return float(xs.mean()), float(ys.mean())


def generate(scene, rng, qtype):
    """One (question, answer, object index or -1) of type `qtype`, or None when the scene cannot pose it."""
    objs = scene["objects"]
    names = phrases(objs)
    named = [i for i, n in enumerate(names) if n]
    w, h = scene["width"], scene["height"]
    if qtype == "color":
        cand = [i for i in named if names[i] == objs[i]["shape"]]
        if not cand:
            return None
        i = int(rng.choice(cand))
        return f"What color is the {names[i]}?", objs[i]["color"], i
    if qtype == "shape_at":
        if not objs:
            return None
        i = int(rng.integers(len(objs)))
        return f"What shape is at {fmt(*interior(objs[i]))}?", objs[i]["shape"], i
    if qtype == "count":
        kind = rng.choice(["color", "shape", "all"], p=[0.4, 0.4, 0.2])
        if kind == "color":
            c = str(rng.choice(list(COLORS)))
            return f"How many {c} objects are there?", str(sum(o["color"] == c for o in objs)), -1
        if kind == "shape":
            s = str(rng.choice(SHAPES))
            return f"How many {PLURAL[s]} are there?", str(sum(o["shape"] == s for o in objs)), -1
        return "How many objects are there?", str(len(objs)), -1
    if qtype == "relation":
        rel = str(rng.choice(["left of", "right of", "above", "below"]))
        pairs = []
        for a in named:
            for b in named:
                if a == b:
                    continue
                (ax, ay), (bx, by) = visible_center(objs[a]), visible_center(objs[b])
                d = {"left of": bx - ax, "right of": ax - bx, "above": by - ay, "below": ay - by}[rel]
                scale = w if rel in ("left of", "right of") else h
                if abs(d) >= 0.08 * scale:   # clear either way
                    pairs.append((a, b, d > 0))
        if not pairs:
            return None
        a, b, yes = pairs[int(rng.integers(len(pairs)))]
        return f"Is the {names[a]} {rel} the {names[b]}?", "yes" if yes else "no", a
    if qtype == "bigger":
        pairs = [(a, b) for a in named for b in named if a < b
                 and max(objs[a]["area"], objs[b]["area"]) >= 1.5 * min(objs[a]["area"], objs[b]["area"])]
        if not pairs:
            return None
        a, b = pairs[int(rng.integers(len(pairs)))]
        if rng.random() < 0.5:
            a, b = b, a
        big = a if objs[a]["area"] > objs[b]["area"] else b
        return f"Which is bigger, the {names[a]} or the {names[b]}?", names[big], big
    if qtype == "exists":
        present = {(o["color"], o["shape"]) for o in objs}
        if rng.random() < 0.5 and objs:
            o = objs[int(rng.integers(len(objs)))]
            c, s = o["color"], o["shape"]
        else:
            c, s = str(rng.choice(list(COLORS))), str(rng.choice(SHAPES))
        article = "an" if c[0] in "aeiou" else "a"
        return f"Is there {article} {c} {s}?", "yes" if (c, s) in present else "no", -1
    if qtype == "describe":
        if not objs or len(objs) > 4:
            return None
        order = sorted(range(len(objs)), key=lambda i: visible_center(objs[i])[0])
        xs = [visible_center(objs[i])[0] for i in order]
        if any(b - a < 0.04 * w for a, b in zip(xs, xs[1:])):   # left-to-right order must be clear
            return None
        return "Describe the image.", ", ".join(f"{objs[i]['color']} {objs[i]['shape']}" for i in order), -1
    if qtype == "box":
        if not named:
            return None
        i = int(rng.choice(named))
        return f"Where is the {names[i]}? Answer with a box.", fmt(*objs[i]["box"]), i
    if qtype == "point":
        if not named:
            return None
        i = int(rng.choice(named))
        return f"Point to the {names[i]}.", fmt(*interior(objs[i])), i
    raise ValueError(qtype)


# Other phrasings of each canonical question (same answer): (pattern of the canonical form, alternatives).
PHRASINGS = {
    "color": (r"What color is the (?P<x>.+)\?", ["What colour is the {x}?", "Which color is the {x}?",
                                                 "Tell me the color of the {x}."]),
    "shape_at": (r"What shape is at (?P<p>\(.+\))\?", ["Which shape is at {p}?", "What is the shape at point {p}?"]),
    "count": (r"How many (?P<x>.+) are there\?", ["Count the {x}.", "How many {x} do you see?"]),
    "relation": (r"Is the (?P<a>.+) (?P<r>left of|right of|above|below) the (?P<b>.+)\?",
                 ["Is the {a} located {r} the {b}?", "Would you say the {a} is {r} the {b}?"]),
    "bigger": (r"Which is bigger, the (?P<a>.+) or the (?P<b>.+)\?",
               ["Which is larger, the {a} or the {b}?", "Which one is bigger: the {a} or the {b}?"]),
    "exists": (r"Is there (?P<x>an? .+)\?", ["Does the image contain {x}?", "Can you see {x}?"]),
    "describe": (r"Describe the image\.", ["What is in the image?", "List the objects from left to right."]),
    "box": (r"Where is the (?P<x>.+)\? Answer with a box\.", ["Give the bounding box of the {x}.", "Box the {x}."]),
    "point": (r"Point to the (?P<x>.+)\.", ["Where is the {x}? Answer with a point.", "Give a point on the {x}."]),
}


def rephrase(qtype, question, rng):
    """The canonical question or, with equal chance, one of its other phrasings."""
    pattern, alternatives = PHRASINGS[qtype]
    k = int(rng.integers(len(alternatives) + 1))
    m = re.fullmatch(pattern, question)
    return question if k == 0 or m is None else alternatives[k - 1].format(**m.groupdict())


def sample(scene, rng, types=TYPES, weights=None, phrasing=False):
    """A random feasible question: (type, question, answer, object index). `weights` (one per type) biases the
    choice towards some types (training oversamples the hard ones); without it every type is equally likely.
    `phrasing` draws the wording among PHRASINGS too (off: the canonical wording and the original stream)."""
    if weights is None:
        order = list(rng.permutation(len(types)))
    else:
        w = np.asarray(weights, np.float64)
        order = list(rng.choice(len(types), size=len(types), replace=False, p=w / w.sum()))
    for k in order:
        q = generate(scene, rng, types[k])
        if q:
            if phrasing:
                q = (rephrase(types[k], q[0], rng),) + q[1:]
            return (types[k],) + q
    raise RuntimeError("no question fits this scene")


NUMS = re.compile(r"-?\d+")


def score_answer(qtype, predicted, answer, mask=None):
    """True when `predicted` counts as right: exact match, or for box IoU ≥ 0.5 and for point inside `mask`."""
    predicted, answer = predicted.strip(), answer.strip()
    if qtype == "box":
        p, a = [int(v) for v in NUMS.findall(predicted)], [int(v) for v in NUMS.findall(answer)]
        if len(p) != 4:
            return False
        return box_iou(p, a) >= 0.5
    if qtype == "point":
        p = [int(v) for v in NUMS.findall(predicted)]
        if len(p) != 2 or mask is None:
            return predicted == answer
        x, y = p
        return 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and bool(mask[y, x])
    return predicted == answer


def box_iou(p, a):
    ix = max(0, min(p[2], a[2]) - max(p[0], a[0]))
    iy = max(0, min(p[3], a[3]) - max(p[1], a[1]))
    inter = ix * iy
    union = (p[2] - p[0]) * (p[3] - p[1]) + (a[2] - a[0]) * (a[3] - a[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    from scenes import make_scene
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    scene = make_scene(rng, 128, 336, radius=(0.1, 0.22), max_occlusion=0.2)
    print(scene["width"], scene["height"], [(o["color"], o["shape"], o["box"]) for o in scene["objects"]])
    for t in TYPES:
        print(t, generate(scene, rng, t))


if __name__ == "__main__":
    main()
