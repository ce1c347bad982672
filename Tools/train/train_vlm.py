#!/usr/bin/env python3
"""Trains prism-vl-tiny (Kimi-VL architecture at small scale) on the synthetic-scenes QA train stream.

    python3 Tools/train/train_vlm.py --tokenizer DIR --out DIR [--device cuda|cpu] [--steps N]

Batches are `--scenes` scenes × 8 questions each (make_dataset.example("train", i), i = step·scenes + j, so the
data order is fixed by the seed alone). Sequences are the Kimi chat template with the image placeholder
expanded (tokenizer.Tokenizer.prompt) followed by the answer and <|im_end|>; the loss is on those answer tokens
only. The model is saved in the official Kimi-VL layout (bf16) with the tokenizer files beside it.
"""
import argparse
import math
import pathlib
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_dataset                                       # noqa: E402
import qa                                                 # noqa: E402
from kimivl_model import VISION, KimiVL, preprocess, text_config   # noqa: E402
from tokenizer import NUM_SPECIAL, Tokenizer              # noqa: E402


class Scenes(torch.utils.data.Dataset):
    """Scene i of the train stream with its questions. By default exactly make_dataset.example (8 uniformly chosen
    questions); with `questions` or `weights`, that many questions drawn with the type weights from a separate
    per-scene stream (stage 3 oversamples the hard types and amortises each rendered scene over more questions)."""

    def __init__(self, tok_dir, split="train", count=10**9, offset=0, questions=None, weights=None, boxes=False, turns=1):
        self.tok_dir, self.split, self.count, self.offset, self.tok = tok_dir, split, count, offset, None
        self.questions, self.weights, self.boxes, self.turns = questions, weights, boxes, turns

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        if self.tok is None:
            self.tok = Tokenizer(self.tok_dir)
        i += self.offset
        if self.questions is None and self.weights is None:
            scene, qs, _ = make_dataset.example(self.split, i)
        else:
            scene = make_dataset.scene(self.split, i)
            rng = np.random.default_rng((make_dataset.SPLIT_SEEDS[self.split], i, 3))
            qs = [qa.sample(scene, rng, weights=self.weights, phrasing=make_dataset.SPLIT_SCENE[self.split] is not make_dataset.SCENE)
                  for _ in range(self.questions or 8)]
        pixels, grid = preprocess(Image.fromarray(scene["image"]))
        aux = cell_labels(scene, grid, self.boxes)
        # Each sequence is a conversation of `turns` questions about the image; the loss is on the answers (and
        # their <|im_end|>) only. One turn is the single-question prompt; more turns train follow-ups and share
        # the image tokens' cost between several answers.
        seqs = []
        for k in range(0, len(qs), self.turns):
            ids, spans = [], []
            for j, (_, q, a, _) in enumerate(qs[k:k + self.turns]):
                ids += self.tok.prompt(q, grid[0] * grid[1] // 4) if j == 0 else self.tok.follow_up(q)
                ans = self.tok.encode(a) + [self.tok.im_end]
                spans.append((len(ids), len(ids) + len(ans)))
                ids += ans
            seqs.append((ids, spans))
        return torch.from_numpy(pixels), grid, seqs, aux


COLOR_IDS = {c: k + 1 for k, c in enumerate(make_dataset.scenes.COLORS)}
SHAPE_IDS = {c: k + 1 for k, c in enumerate(make_dataset.scenes.SHAPES)}


def cell_labels(scene, grid, boxes=False):
    """Auxiliary targets per merged 28×28 cell (row-major, as the image tokens): colour and shape of the object
    covering most of the cell (0: background, under 10% covered) and the cell centre in pixels / 336. With `boxes`,
    also that object's box and interior point (pixels / 336; zeros on background cells): each object cell then
    carries the answer to "where is it", which the box, point, relation and shape-at questions read."""
    gh, gw = grid[0] // 2, grid[1] // 2
    ids = np.zeros((gh * 28, gw * 28), np.int64)
    for k, o in enumerate(scene["objects"]):
        ids[:scene["height"], :scene["width"]][o["mask"]] = k + 1
    cells = ids.reshape(gh, 28, gw, 28).transpose(0, 2, 1, 3).reshape(gh * gw, -1)
    color, shape = np.zeros(gh * gw, np.int64), np.zeros(gh * gw, np.int64)
    where = np.zeros((gh * gw, 6), np.float32)
    for c, row in enumerate(cells):
        counts = np.bincount(row, minlength=len(scene["objects"]) + 1)
        counts[0] = 0
        k = int(counts.argmax())
        if k and counts[k] >= 0.1 * row.size:
            o = scene["objects"][k - 1]
            color[c], shape[c] = COLOR_IDS[o["color"]], SHAPE_IDS[o["shape"]]
            if boxes:
                where[c] = np.array(list(o["box"]) + list(qa.interior(o)), np.float32) / 336
    r, q = np.divmod(np.arange(gh * gw), gw)
    xy = np.stack([(q * 28 + 14) / 336, (r * 28 + 14) / 336], -1).astype(np.float32)
    out = (torch.from_numpy(color), torch.from_numpy(shape), torch.from_numpy(xy))
    return out + (torch.from_numpy(where),) if boxes else out


def collate(items):
    N = max(p.shape[0] for p, _, _, _ in items)
    P = torch.zeros(len(items), N, 3, 14, 14)
    grids, seqs, owner = [], [], []
    aux = [torch.cat([it[3][k] for it in items]) for k in range(len(items[0][3]))]
    for j, (p, g, s, _) in enumerate(items):
        P[j, :p.shape[0]] = p
        grids.append(g)
        seqs += s
        owner += [j] * len(s)
    T = max(len(ids) for ids, _ in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    labels = torch.full((len(seqs), T), -100, dtype=torch.long)
    for b, (s, spans) in enumerate(seqs):
        ids[b, :len(s)] = torch.tensor(s)
        for lo, hi in spans:
            labels[b, lo - 1:hi - 1] = torch.tensor(s[lo:hi])     # position t predicts token t+1
    return P, grids, ids, labels, torch.tensor(owner), aux


def embed(model, P, grids, ids, owner):
    """Vision once per scene; each sequence gets its scene's image embeddings spliced over its pads.
    Returns the input embeddings and the image embeddings of all scenes (for the auxiliary heads)."""
    merged = model.vision_tower(P, grids)
    per_scene = [model.multi_modal_projector(m) for m in merged]
    img = torch.cat([per_scene[j] for j in owner.tolist()])
    pad = ids == model.media_pad_id
    x = model.language_model.model.embed_tokens(torch.where(pad, 0, ids)).clone()
    x[pad] = img.to(x.dtype)
    return x, torch.cat(per_scene)


class AuxHeads(torch.nn.Module):
    """Training-only probes on the image embeddings (not saved): what colour and shape is in each cell and where
    the cell is. They make the vision tower learn objects and absolute positions in a few hundred steps instead
    of waiting for the answer loss alone to discover them."""

    def __init__(self, D):
        super().__init__()
        self.color = torch.nn.Linear(D, len(COLOR_IDS) + 1)
        self.shape = torch.nn.Linear(D, len(SHAPE_IDS) + 1)
        self.xy = torch.nn.Linear(D, 2)
        self.where = torch.nn.Linear(D, 6)     # object box + interior point, used with --aux-boxes

    def loss(self, img, aux):
        color, shape, xy = aux[:3]
        img = img.float()
        loss = (F.cross_entropy(self.color(img), color) + F.cross_entropy(self.shape(img), shape)
                + 10 * F.mse_loss(self.xy(img), xy))
        if len(aux) > 3:   # box/point regression on object cells only
            on = color > 0
            if on.any():
                loss = loss + 10 * F.mse_loss(self.where(img[on]), aux[3][on])
        return loss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--scenes", type=int, default=24, help="scenes per batch (× 8 questions)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", type=pathlib.Path, help="start from this saved prism-vl-tiny")
    ap.add_argument("--offset", type=int, default=0, help="first train-stream scene")
    ap.add_argument("--split", default="train", choices=["train", "train2"],
                    help="train stream: train (the shipped models' scenes) or train2 (diverse backgrounds, sizes, phrasings)")
    ap.add_argument("--aux-weight", type=float, default=0.5, help="weight of the auxiliary cell probes")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop early (and still save) after this long")
    ap.add_argument("--val", type=int, default=500, help="validation scenes scored at the end")
    ap.add_argument("--questions", type=int, help="questions per scene (default: make_dataset's 8, uniform types)")
    ap.add_argument("--type-weights", help="comma-separated weight per question type, in qa.TYPES order")
    ap.add_argument("--turns", type=int, default=1, help="questions per conversation (sequence)")
    ap.add_argument("--aux-boxes", action="store_true", help="also probe each object cell for its box and point")
    ap.add_argument("--minutes", type=float, default=0,
                    help="train for this long, the cosine schedule following the clock instead of the step count (for "
                         "a shared CPU whose speed changes; the log's step count makes the --steps equivalent)")
    ap.add_argument("--save-every", type=float, default=0, help="minutes between checkpoints in OUT-ckpt")
    a = ap.parse_args()
    weights = [float(v) for v in a.type_weights.split(",")] if a.type_weights else None
    if weights is not None and len(weights) != len(qa.TYPES):
        ap.error(f"--type-weights needs {len(qa.TYPES)} values ({', '.join(qa.TYPES)})")
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    dev = a.device
    tok = Tokenizer(a.tokenizer)
    model = KimiVL(VISION, text_config(tok.n + NUM_SPECIAL - 2), tok.media_pad)
    with torch.no_grad():   # small init for every linear (the defaults are fine for LayerNorm / embeddings)
        for n, p in model.named_parameters():
            if p.dim() == 2 and "pos_emb" not in n:
                p.normal_(0, 0.02)
            elif n.endswith(".bias"):
                p.zero_()
    if a.init:   # continue from a saved checkpoint (a second stage: new schedule, later part of the train stream)
        model.load_state_dict(KimiVL.load(a.init).state_dict())
        print(f"initialised from {a.init}", flush=True)
    model.to(dev).train()
    params = sum(p.numel() for p in model.parameters())
    print(f"prism-vl-tiny: {params / 1e6:.2f} M parameters, vocab {model.text_config['vocab_size']}, device {dev}", flush=True)
    aux_heads = AuxHeads(model.text_config["hidden_size"]).to(dev)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n and "pos_emb" not in n]
    decay += list(aux_heads.parameters())
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n and "pos_emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), fused=dev == "cuda")
    def sched(s):
        done = (time.time() - t0) / (a.minutes * 60) if a.minutes else s / a.steps
        return min(1.0, (s + 1) / a.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))
    data = torch.utils.data.DataLoader(Scenes(a.tokenizer, split=a.split, count=(a.steps if not a.minutes else 10**6) * a.scenes, offset=a.offset,
                                              questions=a.questions, weights=weights, boxes=a.aux_boxes,
                                              turns=a.turns), batch_size=a.scenes,
                                       collate_fn=collate, num_workers=a.workers, prefetch_factor=4 if a.workers else None,
                                       persistent_workers=a.workers > 0)
    t0, seen, hist = time.time(), 0, []
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev == "cuda" else torch.autocast("cpu", enabled=False)
    step, last_save = 0, time.time()
    for step, (P, grids, ids, labels, owner, aux) in enumerate(data):
        if a.minutes and time.time() - t0 >= a.minutes * 60:   # (by steps, the dataset's length stops the loop)
            break
        for g in opt.param_groups:
            g["lr"] = a.lr * sched(step)
        P, ids, labels = P.to(dev, non_blocking=True), ids.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)
        aux = [t.to(dev, non_blocking=True) for t in aux]
        with amp:
            x, img = embed(model, P, grids, ids, owner)
            m = labels != -100
            logits = model.language_model(x, positions=m)                        # [answer tokens, V]
        answer_loss = F.cross_entropy(logits.float(), labels[m])
        aux_loss = aux_heads.loss(img, aux)
        loss = answer_loss + a.aux_weight * aux_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        model.language_model.update_router_bias(1e-3)
        seen += ids.shape[0]
        hist.append(loss.item() if step % 25 == 0 else None)
        if step % (50 if a.minutes else 200) == 0 or step == a.steps - 1:
            with torch.no_grad():
                acc = (logits.argmax(-1) == labels[m]).float().mean().item()
            el = time.time() - t0
            print(f"step {step:5d}  answer loss {answer_loss.item():.4f}  aux {aux_loss.item():.3f}  token acc {acc:.3f}  lr {a.lr * sched(step):.2e}  "
                  f"{seen / el:.0f} seq/s  {el / 60:.1f} min", flush=True)
        if a.save_every and time.time() - last_save > a.save_every * 60:
            save(model, a.tokenizer, a.out.parent / (a.out.name + "-ckpt"))
            last_save = time.time()
            print(f"checkpoint at step {step}", flush=True)
        if a.max_minutes and time.time() - t0 > a.max_minutes * 60:
            print(f"time limit: stopping after step {step}", flush=True)
            break
    print(f"trained {step + 1} steps, {seen} sequences in {(time.time() - t0) / 60:.1f} min", flush=True)
    model.eval()
    save(model, a.tokenizer, a.out)
    loads = [l.mlp.gate.e_score_correction_bias.tolist() for l in model.language_model.model.layers[1:]]
    print("router correction bias per MoE layer:", [[round(v, 3) for v in b] for b in loads], flush=True)
    if a.val:
        import eval_torch
        recs = [val_record(i) for i in range(a.val)]
        preds = []
        m = KimiVL.load(a.out, dev)   # the saved bf16 weights, as the Swift engine reads them
        tk = Tokenizer(a.out)
        for s in range(0, len(recs), 100):
            chunk = recs[s:s + 100]
            preds += eval_torch.generate(m, tk, [r["pil"] for r in chunk], [r["question"] for r in chunk], dev)
        eval_torch.score_vqa(recs, preds, log=lambda s: print("val " + s, flush=True))


def save(model, tokenizer, out):
    """The official layout plus the tokenizer files: a folder the Swift engine loads as is."""
    model.save(out)
    for f in ("tiktoken.model", "tokenizer_config.json"):
        if (tokenizer / f).resolve() != (out / f).resolve():
            shutil.copy(tokenizer / f, out / f)


def val_record(i):
    scene, qs, _ = make_dataset.example("validation", i)
    t, q, a, obj = qs[0]
    return {"pil": Image.fromarray(scene["image"]), "question": q, "answer": a, "question_type": t,
            "answer_object": obj, "_mask": scene["objects"][obj]["mask"] if obj >= 0 else None}


if __name__ == "__main__":
    main()
