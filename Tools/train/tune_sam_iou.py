#!/usr/bin/env python3
"""Fine-tunes prism-sam-tiny's IoU head alone, so that a 1-point prompt's best-scored mask is the best mask.

    python3 Tools/train/tune_sam_iou.py --model Weights/prism-sam-tiny --out DIR [--scenes 800] [--val 100]

With one click SAM returns three masks and the caller keeps the one with the highest predicted IoU. On the
validation scenes the three masks' best IoU averages ≈ 0.02 above the chosen one's: the masks are good, the
ranking is not. Everything but `iou_prediction_head` stays frozen (so the masks are unchanged); the head learns
the true IoU (at the original resolution, as evaluated) of each multimask output for the evaluation's prompt (the
object's interior point) and for random object pixels, and of the single mask, by MSE plus a cross-entropy that
ranks the three multimask outputs. Scenes come from the train stream past the ones train_sam.py used; the
validation split measures chosen vs best-of-three before and after. Cheap enough for a CPU (the encoder runs
without gradients, once per scene).
"""
import argparse
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_dataset     # noqa: E402
import qa               # noqa: E402
from eval_torch import sam_preprocess   # noqa: E402


def scene_batch(model, split, i, rng, random_points):
    """Image embedding and per-object prompts [K, P, 1, 2] (interior point first) with the GT masks."""
    scene = make_dataset.scene(split, i)
    img = Image.fromarray(scene["image"])
    W, H = img.size
    S = model.config.vision_config.image_size
    px, (nw, nh) = sam_preprocess(img, S)
    pts, gts = [], []
    for o in scene["objects"]:
        ys, xs = np.nonzero(o["mask"])
        r = rng.integers(len(xs), size=random_points)
        pts.append([qa.interior(o)] + [(xs[j], ys[j]) for j in r])
        gts.append(o["mask"])
    pts = np.array(pts, np.float32)[:, :, None, :] * np.array([nw / W, nh / H], np.float32)
    with torch.no_grad():
        emb = model.get_image_embeddings(torch.from_numpy(px)[None])
    return emb, torch.from_numpy(pts), torch.from_numpy(np.stack(gts)), (nw, nh, W, H)


def true_ious(low, gts, sizes, S):
    """IoU at the original resolution of low-res logits [K, P, C, h, w] against masks [K, H, W] → [K, P, C]."""
    nw, nh, W, H = sizes
    K, P, C = low.shape[:3]
    m = F.interpolate(low.reshape(K * P * C, 1, *low.shape[-2:]), size=(S, S), mode="bilinear", align_corners=False)
    m = F.interpolate(m[..., :nh, :nw], size=(H, W), mode="bilinear", align_corners=False).reshape(K, P, C, H, W) > 0
    g = gts[:, None, None]
    inter = (m & g).sum((-1, -2)).float()
    union = (m | g).sum((-1, -2)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))


def run(model, emb, pts, multimask):
    K, P = pts.shape[:2]
    out = model(image_embeddings=emb, input_points=pts.reshape(1, K * P, 1, 2),
                input_labels=torch.ones(1, K * P, 1, dtype=torch.long), multimask_output=multimask)
    C = out.iou_scores.shape[-1]
    return out.pred_masks[0].reshape(K, P, C, *out.pred_masks.shape[-2:]), out.iou_scores[0].reshape(K, P, C)


def validate(model, n):
    """(chosen, best-of-three) mean IoU of the interior-point prompt over n validation scenes."""
    S, rng, tot, cnt = model.config.vision_config.image_size, np.random.default_rng(0), np.zeros(2), 0
    with torch.no_grad():
        for i in range(n):
            emb, pts, gts, sizes = scene_batch(model, "validation", i, rng, 0)
            low, pred = run(model, emb, pts, True)
            iou = true_ious(low, gts, sizes, S)[:, 0]                        # [K, 3]
            tot += [iou.gather(1, pred[:, 0].argmax(-1, keepdim=True)).sum().item(), iou.max(-1).values.sum().item()]
            cnt += iou.shape[0]
    return tot / max(cnt, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--scenes", type=int, default=800)
    ap.add_argument("--offset", type=int, default=100000, help="first train-stream scene (train_sam.py used fewer)")
    ap.add_argument("--random-points", type=int, default=1, help="random object pixels per object besides the interior point")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--rank-weight", type=float, default=0.1, help="weight of the ranking cross-entropy")
    ap.add_argument("--val", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from transformers import SamModel
    torch.manual_seed(a.seed)
    model = SamModel.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    S = model.config.vision_config.image_size
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith("mask_decoder.iou_prediction_head."))
    head = [p for p in model.parameters() if p.requires_grad]
    print(f"training {sum(p.numel() for p in head)} IoU-head parameters on {a.scenes} scenes", flush=True)
    if a.val:
        print("validation before: chosen %.4f  best of three %.4f" % tuple(validate(model, a.val)), flush=True)
    opt = torch.optim.AdamW(head, lr=a.lr, weight_decay=0.0)
    rng, t0, hist = np.random.default_rng(a.seed), time.time(), []
    for step in range(a.scenes):
        for g in opt.param_groups:
            g["lr"] = a.lr * 0.5 * (1 + np.cos(np.pi * step / a.scenes))
        emb, pts, gts, sizes = scene_batch(model, "train", a.offset + step, rng, a.random_points)
        low, pred = run(model, emb, pts, True)
        one_low, one_pred = run(model, emb, pts[:, :1], False)      # the single mask: interior point only
        with torch.no_grad():
            target, one_target = true_ious(low, gts, sizes, S), true_ious(one_low, gts, sizes, S)
        rank = F.cross_entropy(pred.reshape(-1, 3) * 20, target.reshape(-1, 3).argmax(-1))
        loss = F.mse_loss(pred, target) + F.mse_loss(one_pred, one_target) + a.rank_weight * rank
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        hist.append(loss.item())
        if step % 100 == 0 or step == a.scenes - 1:
            print(f"scene {step:5d}  loss {np.mean(hist[-100:]):.4f}  {(step + 1) / (time.time() - t0):.1f} scenes/s", flush=True)
    if a.val:
        print("validation after:  chosen %.4f  best of three %.4f" % tuple(validate(model, a.val)), flush=True)
    model.to(torch.bfloat16).save_pretrained(a.out, safe_serialization=True)
    (a.out / "generation_config.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
