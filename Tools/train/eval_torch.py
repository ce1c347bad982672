#!/usr/bin/env python3
"""PyTorch-side evaluation of the embedded models on a split written by make_dataset.py (its JSONL + PNG files),
to compare with `prism eval` (the Swift engine) answer by answer.

    python3 Tools/train/eval_torch.py vqa --model Weights/prism-vl-tiny --data /tmp/scenes/test/test.jsonl \
        --predictions /tmp/torch-vqa.jsonl
    python3 Tools/train/eval_torch.py seg --model Weights/prism-sam-tiny --data /tmp/scenes/test/test.jsonl
    python3 Tools/train/eval_torch.py compare /tmp/torch-vqa.jsonl /tmp/swift-vqa.jsonl

Scoring is qa.score_answer (exact match; box: IoU ≥ 0.5; point: inside the object's mask). Segmentation metrics
per prompt kind (1-point multimask → best predicted IoU; 3-point and box → single mask), averaged over objects:
mIoU = mean foreground IoU, pixel accuracy = mean fraction of pixels right, mean pixel accuracy = mean over
objects of (foreground recall + background recall) / 2.
"""
import argparse
import collections
import json
import pathlib
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import qa                                  # noqa: E402
from kimivl_model import KimiVL, preprocess  # noqa: E402
from tokenizer import Tokenizer            # noqa: E402

ANSWER_ORDER = {t: i for i, t in enumerate(["exists", "relation", "count", "color", "shape_at", "bigger", "point",
                                            "box", "describe"])}


def load_split(path):
    path = pathlib.Path(path)
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for r in recs:
        r["_dir"] = path.parent
    return recs


def record_image(r):
    return Image.open(r["_dir"] / r["image"]).convert("RGB")


def record_mask(r, k):
    return np.asarray(Image.open(r["_dir"] / r["masks"][k])) > 127


@torch.no_grad()
def generate(model, tok, images, questions, device, max_new=28):
    """Greedy answers for (image, question) pairs, batched; stops at <|im_end|> or [EOS]."""
    pix, grids, ids = [], [], []
    for img, q in zip(images, questions):
        p, g = preprocess(img)
        pix.append(torch.from_numpy(p))
        grids.append(g)
        ids.append(tok.prompt(q, g[0] * g[1] // 4))
    B, N, T = len(ids), max(p.shape[0] for p in pix), max(len(i) for i in ids)
    P = torch.zeros(B, N, 3, 14, 14)
    I = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        P[b, :pix[b].shape[0]] = pix[b]
        I[b, :len(ids[b])] = torch.tensor(ids[b])
    x = model.embed(I.to(device), P.to(device), grids)
    buf = torch.zeros(B, T + max_new, x.shape[-1], device=device, dtype=x.dtype)
    buf[:, :T] = x
    lens = torch.tensor([len(i) for i in ids], device=device)
    out, done = [[] for _ in range(B)], [False] * B
    stops = {tok.im_end, tok.eos}
    emb = model.language_model.model.embed_tokens
    for _ in range(max_new):
        logits = model.language_model(buf[:, :int(lens.max())])
        nxt = logits[torch.arange(B, device=device), lens - 1].float().argmax(-1)
        for b, t in enumerate(nxt.tolist()):
            if not done[b]:
                if t in stops:
                    done[b] = True
                else:
                    out[b].append(t)
        if all(done):
            break
        buf[torch.arange(B, device=device), lens] = emb(nxt)
        lens = lens + 1
    return [tok.decode(o) for o in out]


def eval_vqa(model_dir, recs, device, batch=64, log=print):
    model = KimiVL.load(model_dir, device)
    tok = Tokenizer(model_dir)
    order = sorted(range(len(recs)), key=lambda i: (ANSWER_ORDER[recs[i]["question_type"]], i))
    preds = [None] * len(recs)
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        answers = generate(model, tok, [record_image(recs[i]) for i in idx], [recs[i]["question"] for i in idx], device)
        for i, a in zip(idx, answers):
            preds[i] = a
    return score_vqa(recs, preds, log), preds


def score_vqa(recs, preds, log=print):
    right, exact, total = collections.Counter(), collections.Counter(), collections.Counter()
    for r, p in zip(recs, preds):
        t = r["question_type"]
        mask = None
        if t == "point" and r["answer_object"] >= 0:
            mask = r["_mask"] if "_mask" in r else record_mask(r, r["answer_object"])
        total[t] += 1
        right[t] += qa.score_answer(t, p, r["answer"], mask)
        exact[t] += p.strip() == r["answer"]
    n = sum(total.values())
    log(f"{'type':10s} {'n':>5s} {'accuracy':>9s} {'exact':>7s}")
    for t in qa.TYPES:
        if total[t]:
            log(f"{t:10s} {total[t]:5d} {right[t] / total[t]:9.3f} {exact[t] / total[t]:7.3f}")
    acc, em = sum(right.values()) / n, sum(exact.values()) / n
    log(f"{'overall':10s} {n:5d} {acc:9.3f} {em:7.3f}")
    return {"overall": acc, "exact": em, **{t: right[t] / total[t] for t in total}}


# ---------------------------------------------------------------- SAM
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def sam_preprocess(img, size):
    """PIL bilinear resize of the longest side to `size` (rounded sizes), ImageNet normalisation, zero pad."""
    W, H = img.size
    s = size / max(W, H)
    nw, nh = int(W * s + 0.5), int(H * s + 0.5)
    if (nw, nh) != (W, H):
        img = img.resize((nw, nh), Image.BILINEAR)
    a = (np.asarray(img, np.float32) / 255 - MEAN) / STD
    out = np.zeros((3, size, size), np.float32)
    out[:, :nh, :nw] = a.transpose(2, 0, 1)
    return out, (nw, nh)


def seg_scores(pred, gt):
    """(IoU, pixel accuracy, mean pixel accuracy) of two boolean masks."""
    inter, union = (pred & gt).sum(), (pred | gt).sum()
    iou = inter / union if union else 1.0
    acc = (pred == gt).mean()
    fg = inter / gt.sum() if gt.sum() else 1.0
    bgn = (~gt).sum()
    bg = ((~pred) & (~gt)).sum() / bgn if bgn else 1.0
    return float(iou), float(acc), float((fg + bg) / 2)


@torch.no_grad()
def sam_masks(model, pixel_values, sizes, orig, points=None, labels=None, boxes=None, multimask=False):
    """Binary masks at the original size for one image's prompts (batched over prompts)."""
    import torch.nn.functional as F
    S = model.config.vision_config.image_size
    emb = model.get_image_embeddings(pixel_values)
    out = model(image_embeddings=emb, input_points=points, input_labels=labels, input_boxes=boxes,
                multimask_output=multimask)
    low, iou = out.pred_masks[0], out.iou_scores[0]                 # [P, C, h, w], [P, C]
    if multimask:
        best = iou.argmax(-1)
        low = low[torch.arange(low.shape[0]), best][:, None]
    nw, nh = sizes
    W, H = orig
    m = F.interpolate(low, size=(S, S), mode="bilinear", align_corners=False)[..., :nh, :nw]
    m = F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)
    return (m[:, 0] > 0).cpu().numpy()


def eval_seg(model_dir, recs, device, log=print):
    from transformers import SamModel
    model = SamModel.from_pretrained(model_dir).float().to(device).eval()   # bf16 on disk, fp32 compute (as Swift)
    S = model.config.vision_config.image_size
    sums = {k: np.zeros(3) for k in ("1-point", "3-point", "box")}
    n = 0
    for r in recs:
        img = record_image(r)
        W, H = img.size
        px, (nw, nh) = sam_preprocess(img, S)
        sx, sy = nw / W, nh / H
        K = len(r["masks"])
        gts = [record_mask(r, k) for k in range(K)]
        p1 = np.array(r["image/object/point"]["float"], np.float32).reshape(K, 1, 2)
        p3 = np.array(r["image/object/points3"]["float"], np.float32).reshape(K, 3, 2)
        box = np.stack([np.round(np.array(r[k]["float"]) * (W if k[0] == "x" else H))
                        for k in ("xmin", "ymin", "xmax", "ymax")], -1).astype(np.float32)
        scale = np.array([sx, sy], np.float32)
        pv = torch.from_numpy(px)[None].to(device)
        t = lambda a: torch.from_numpy(a)[None].to(device)
        preds = {
            "1-point": sam_masks(model, pv, (nw, nh), (W, H), t(p1 * scale), t(np.ones((K, 1), np.int64)), multimask=True),
            "3-point": sam_masks(model, pv, (nw, nh), (W, H), t(p3 * scale), t(np.ones((K, 3), np.int64))),
            "box": sam_masks(model, pv, (nw, nh), (W, H), boxes=t(box * np.tile(scale, 2))),
        }
        for k, masks in preds.items():
            for m, g in zip(masks, gts):
                sums[k] += seg_scores(m, g)
        n += K
    log(f"{'prompt':8s} {'objects':>7s} {'mIoU':>6s} {'pixacc':>7s} {'mpixacc':>8s}")
    res = {}
    for k, s in sums.items():
        s = s / max(n, 1)
        res[k] = {"mIoU": s[0], "pixel_accuracy": s[1], "mean_pixel_accuracy": s[2]}
        log(f"{k:8s} {n:7d} {s[0]:6.3f} {s[1]:7.3f} {s[2]:8.3f}")
    return res


def compare(a, b):
    """Answer agreement of two predictions files in the same record order (JSONL from either evaluator)."""
    pa = [json.loads(line) for line in pathlib.Path(a).read_text().splitlines() if line.strip()]
    pb = [json.loads(line) for line in pathlib.Path(b).read_text().splitlines() if line.strip()]
    assert len(pa) == len(pb) and all(x["question"] == y["question"] for x, y in zip(pa, pb)), "different records"
    diff = [(x["question"], x["prediction"], y["prediction"]) for x, y in zip(pa, pb) if x["prediction"] != y["prediction"]]
    print(f"same answers: {len(pa) - len(diff)}/{len(pa)} = {(len(pa) - len(diff)) / max(1, len(pa)):.4f}")
    for d in diff[:20]:
        print("  differs:", d)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=["vqa", "seg", "compare"])
    ap.add_argument("files", nargs="*", help="compare: two predictions JSONL files")
    ap.add_argument("--model")
    ap.add_argument("--data")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--predictions", help="vqa: write one JSON line per record (question, answer, prediction)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    if a.task == "compare":
        return compare(*a.files)
    torch.set_grad_enabled(False)
    recs = load_split(a.data)[: a.limit]
    if a.task == "vqa":
        _, preds = eval_vqa(a.model, recs, a.device)
        if a.predictions:
            with open(a.predictions, "w") as f:
                for r, p in zip(recs, preds):
                    f.write(json.dumps({"image": pathlib.Path(r["image"]).name, "question": r["question"],
                                        "question_type": r["question_type"], "answer": r["answer"],
                                        "prediction": p}) + "\n")
    else:
        eval_seg(a.model, recs, a.device)


if __name__ == "__main__":
    main()
