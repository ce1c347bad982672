#!/usr/bin/env python3
"""Trains prism-sam-tiny: transformers' SamModel with a reduced SamConfig (same module structure and names as
SAM; ViT 192 wide, 6 blocks, windows of 8 with global blocks 2 and 5, 512-pixel input) on the scenes' object
masks, with 1-point (multimask, best of 3 by loss), 3-point and box prompts (single mask).

    python3 Tools/train/train_sam.py --out DIR [--device cuda|cpu] [--steps N]

Scene i of batch s is make_dataset's train scene s·batch + i (the same images the VLM sees). Per image up to 4
objects; 1-point prompts are the object's interior point half of the time (the evaluation's prompt) and a random
mask pixel otherwise; 3-point prompts are random mask pixels; boxes are the true box with a little jitter. Loss:
BCE + dice on the logits upsampled to the 512 frame, + MSE of the IoU head. Saved with save_pretrained in bf16.
"""
import argparse
import math
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
import scenes           # noqa: E402
from eval_torch import sam_preprocess   # noqa: E402

K = 4   # objects per image


def sam_config():
    from transformers import SamConfig
    return SamConfig(
        vision_config=dict(hidden_size=192, output_channels=256, num_hidden_layers=6, num_attention_heads=6,
                           mlp_dim=768, image_size=512, patch_size=16, window_size=8, global_attn_indexes=[2, 5],
                           num_pos_feats=128),
        prompt_encoder_config=dict(hidden_size=256, image_size=512, patch_size=16, mask_input_channels=16),
        mask_decoder_config=dict(hidden_size=256, mlp_dim=1024, num_hidden_layers=2, num_attention_heads=8,
                                 iou_head_hidden_dim=256),
    )


def init_sam(model):
    """The original SAM's initialisation: PyTorch defaults for every layer, and the random Fourier features with
    scale 1 (transformers' SamModel draws them with scale hidden_size / 2 = 128 and everything at std 0.02, which
    leaves the predicted masks flat and the gradients vanishing when training from scratch)."""
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "reset_parameters") and m is not model:
                m.reset_parameters()
        pe = model.shared_image_embedding.positional_embedding
        pe.copy_(torch.randn_like(pe))
        pe.requires_grad_(False)
        model.vision_encoder.pos_embed.zero_()
    return model


class SamScenes(torch.utils.data.Dataset):
    def __init__(self, count, size=512, offset=0, split="train"):
        self.count, self.size, self.offset, self.split = count, size, offset, split

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        i += self.offset
        scene = make_dataset.scene(self.split, i)
        rng = np.random.default_rng((make_dataset.SPLIT_SEEDS[self.split], i, 1))
        img = Image.fromarray(scene["image"])
        W, H = img.size
        px, (nw, nh) = sam_preprocess(img, self.size)
        sx, sy = nw / W, nh / H
        objs = scene["objects"]
        pick = rng.permutation(len(objs))[:K] if len(objs) >= K else rng.integers(len(objs), size=K)
        gt = np.zeros((K, self.size, self.size), np.uint8)
        p1, p3, box = np.zeros((K, 1, 2), np.float32), np.zeros((K, 3, 2), np.float32), np.zeros((K, 4), np.float32)
        for k, j in enumerate(pick):
            o = objs[j]
            m = Image.fromarray((o["mask"] * 255).astype(np.uint8)).resize((nw, nh), Image.BILINEAR)
            gt[k, :nh, :nw] = np.asarray(m) > 127
            ys, xs = np.nonzero(o["mask"])
            if rng.random() < 0.5:
                p1[k, 0] = qa.interior(o)
            else:
                r = rng.integers(len(xs))
                p1[k, 0] = xs[r], ys[r]
            r = rng.integers(len(xs), size=3)
            p3[k] = np.stack([xs[r], ys[r]], -1)
            x0, y0, x1, y1 = o["box"]
            jit = rng.normal(0, 0.03, 4) * np.array([x1 - x0, y1 - y0, x1 - x0, y1 - y0])
            box[k] = np.clip(np.array([x0, y0, x1, y1]) + jit, 0, [W, H, W, H])
        s = np.array([sx, sy], np.float32)
        return (torch.from_numpy(px), torch.from_numpy(gt), torch.from_numpy(p1 * s), torch.from_numpy(p3 * s),
                torch.from_numpy(box * np.tile(s, 2)))


def mask_losses(logits, gt):
    """logits [..., h, w] low-res, gt [..., S, S] {0,1} → (bce + dice, IoU of logits > 0) per mask."""
    S = gt.shape[-1]
    shape = logits.shape[:-2]
    up = F.interpolate(logits.reshape(-1, 1, *logits.shape[-2:]).float(), size=(S, S), mode="bilinear",
                       align_corners=False).reshape(*shape, S, S)
    g = gt.float().expand_as(up)
    # class-balanced BCE: objects cover a few % of the frame, and plain BCE settles on "all background"
    pos = g.sum((-1, -2), keepdim=True)
    weight = torch.where(g > 0, 0.5 / pos.clamp(min=1), 0.5 / (g[0, 0].numel() - pos).clamp(min=1))
    bce = (F.binary_cross_entropy_with_logits(up, g, reduction="none") * weight).sum((-1, -2))
    p = up.sigmoid()
    dice = 1 - (2 * (p * g).sum((-1, -2)) + 1) / (p.sum((-1, -2)) + g.sum((-1, -2)) + 1)
    with torch.no_grad():
        hard = up > 0
        inter = (hard & (g > 0)).sum((-1, -2)).float()
        union = (hard | (g > 0)).sum((-1, -2)).float()
        iou = inter / union.clamp(min=1)
    return bce + dice, iou


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=16, help="images per step (× 4 objects × 3 prompt kinds)")
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-minutes", type=float, default=0, help="stop early (and still save) after this long")
    ap.add_argument("--val", type=int, default=200, help="validation scenes scored at the end")
    ap.add_argument("--init", type=pathlib.Path, help="continue from this saved prism-sam-tiny (a fine-tuning stage)")
    ap.add_argument("--offset", type=int, default=0, help="first train-stream scene")
    ap.add_argument("--split", default="train", choices=["train", "train2"],
                    help="train stream: train (the shipped models' scenes) or train2 (diverse backgrounds and sizes)")
    a = ap.parse_args()
    from transformers import SamModel
    torch.manual_seed(a.seed)
    dev = a.device
    if a.init:
        model = SamModel.from_pretrained(a.init, torch_dtype=torch.float32)
        model.shared_image_embedding.positional_embedding.requires_grad_(False)   # fixed, as in init_sam
        print(f"initialised from {a.init}", flush=True)
    else:
        model = init_sam(SamModel(sam_config()))
    model = model.to(dev).train()
    print(f"prism-sam-tiny: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, device {dev}", flush=True)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.05, betas=(0.9, 0.95), fused=dev == "cuda")
    sched = lambda s: min(1.0, (s + 1) / a.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / a.steps))))
    data = torch.utils.data.DataLoader(SamScenes(a.steps * a.batch, offset=a.offset, split=a.split), batch_size=a.batch, num_workers=a.workers,
                                       prefetch_factor=4 if a.workers else None, persistent_workers=a.workers > 0)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev == "cuda" else torch.autocast("cpu", enabled=False)
    t0, step = time.time(), 0
    for step, (px, gt, p1, p3, box) in enumerate(data):
        for g in opt.param_groups:
            g["lr"] = a.lr * sched(step)
        px, gt, p1, p3, box = (t.to(dev, non_blocking=True) for t in (px, gt, p1, p3, box))
        B = px.shape[0]
        with amp:
            emb = model.get_image_embeddings(px)
            o1 = model(image_embeddings=emb, input_points=p1, input_labels=torch.ones(B, K, 1, dtype=torch.long, device=dev),
                       multimask_output=True)
            o3 = model(image_embeddings=emb, input_points=p3, input_labels=torch.ones(B, K, 3, dtype=torch.long, device=dev),
                       multimask_output=False)
            ob = model(image_embeddings=emb, input_boxes=box, multimask_output=False)
        l1, iou1 = mask_losses(o1.pred_masks, gt[:, :, None])         # [B, K, 3]
        l3, iou3 = mask_losses(o3.pred_masks, gt[:, :, None])
        lb, ioub = mask_losses(ob.pred_masks, gt[:, :, None])
        mask_loss = l1.min(-1).values.mean() + l3.mean() + lb.mean()
        iou_loss = sum(F.mse_loss(o.iou_scores.float(), t) for o, t in ((o1, iou1), (o3, iou3), (ob, ioub)))
        loss = mask_loss + iou_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 200 == 0 or step == a.steps - 1:
            best1 = iou1.gather(-1, l1.argmin(-1, keepdim=True)).mean().item()
            el = time.time() - t0
            print(f"step {step:5d}  loss {loss.item():.4f}  train IoU 1-pt {best1:.3f} 3-pt {iou3.mean().item():.3f} "
                  f"box {ioub.mean().item():.3f}  {(step + 1) * B / el:.0f} img/s  {el / 60:.1f} min", flush=True)
        if a.max_minutes and time.time() - t0 > a.max_minutes * 60:
            print(f"time limit: stopping after step {step}", flush=True)
            break
    print(f"trained {step + 1} steps in {(time.time() - t0) / 60:.1f} min", flush=True)
    model.eval()
    model.to(torch.bfloat16).save_pretrained(a.out, safe_serialization=True)
    (a.out / "generation_config.json").unlink(missing_ok=True)
    if a.val:
        import json
        import eval_torch
        recs = []
        tmp = a.out.parent / (a.out.name + "-val")
        tmp.mkdir(exist_ok=True)
        (tmp / "images").mkdir(exist_ok=True)
        (tmp / "masks").mkdir(exist_ok=True)
        for i in range(a.val):
            for line in make_dataset.write_example(("validation", i, tmp)):
                r = json.loads(line)
                r["_dir"] = tmp
                recs.append(r)
        eval_torch.eval_seg(a.out, recs, dev, log=lambda s: print("val " + s, flush=True))


if __name__ == "__main__":
    main()
