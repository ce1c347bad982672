#!/usr/bin/env python3
"""Golden values for PrismSAM, computed by transformers' SamModel (the reference the Swift port matches).

    python3 Tools/reference/sam_fixtures.py
      → Tests/PrismSAMTests/Fixtures/tiny-sam/{config.json,model.safetensors}   (save_pretrained, HF layout)
      → Tests/PrismSAMTests/Fixtures/sam_golden.safetensors                     (inputs + expected outputs)

Needs torch, transformers, safetensors, numpy, Pillow from PyPI. Never run in CI; the outputs are committed (small).
The tiny config keeps every structural feature of ViT-B SAM: padded windows (grid 10, window 4 → 12),
one global layer, decoder attention downsampling, 3 multimask tokens, a non-square image (crop + 2 resizes).
"""
import pathlib
import platform

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from PIL import Image
from safetensors.torch import save_file
from transformers import SamConfig, SamModel
from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "Tests/PrismSAMTests/Fixtures"
IMAGE_SIZE = 160

TINY = dict(
    vision_config=dict(hidden_size=48, output_channels=32, num_hidden_layers=3, num_attention_heads=4,
                       image_size=IMAGE_SIZE, patch_size=16, window_size=4, global_attn_indexes=[1],
                       num_pos_feats=16, mlp_dim=96),
    prompt_encoder_config=dict(hidden_size=32, image_size=IMAGE_SIZE, patch_size=16, mask_input_channels=8),
    mask_decoder_config=dict(hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=4,
                             iou_head_hidden_dim=32),
)


def randomize(model, seed):
    """Non-trivial random weights: normal weights, random LayerNorm affine, rel-pos tables, Fourier matrix."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif "layer_norm" in name and name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "positional_embedding" in name:
                p.copy_(torch.randn(p.shape, generator=g))          # original SAM: scale 1.0
            elif "rel_pos" in name or "pos_embed" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(torch.randn(p.shape, generator=g) / max(1.0, fan_in) ** 0.5)
    model.prompt_encoder.shared_embedding.positional_embedding = model.shared_image_embedding.positional_embedding


def test_image(w, h, seed):
    """A smooth coloured image with a few shapes (so masks are not noise), as uint8 HWC."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(xx / 9.0), 128 + 100 * np.cos(yy / 7.0), 128 + 60 * np.sin((xx + yy) / 13.0)], -1)
    img[(xx - w * 0.4) ** 2 + (yy - h * 0.5) ** 2 < (min(w, h) * 0.25) ** 2] = [240, 30, 30]
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def preprocess_shape(h, w, longest):
    s = longest / max(h, w)
    return int(h * s + 0.5), int(w * s + 0.5)


def main():
    torch.manual_seed(0)
    config = SamConfig(**TINY)
    config._attn_implementation = "eager"
    model = SamModel(config).eval()
    randomize(model, 1234)
    (FIX / "tiny-sam").mkdir(parents=True, exist_ok=True)
    model.save_pretrained(FIX / "tiny-sam", safe_serialization=True)

    out = {}
    def put(name, t):
        out[name] = torch.as_tensor(t).detach().to(torch.float32).contiguous().clone()

    processor = SamImageProcessorPil(size={"longest_edge": IMAGE_SIZE}, pad_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})

    # Preprocessing: one upscaled (150×100 → 160×107) and one downscaled (300×210 → 160×112) image.
    for tag, (w, h) in [("up", (150, 100)), ("down", (300, 210))]:
        img = test_image(w, h, seed=len(tag))
        enc = processor(images=Image.fromarray(img), return_tensors="pt")
        out[f"pre_{tag}.image"] = torch.from_numpy(img.copy())                       # uint8 [H, W, 3]
        put(f"pre_{tag}.pixel_values", enc["pixel_values"][0])
        put(f"pre_{tag}.reshaped", torch.tensor(list(enc["reshaped_input_sizes"][0])))

    # The model cases run on the upscaled image (non-square: crop + two bilinear resizes in post-processing).
    img = out["pre_up.image"].numpy()
    H, W = img.shape[:2]
    newH, newW = preprocess_shape(H, W, IMAGE_SIZE)
    pixel_values = out["pre_up.pixel_values"][None]
    with torch.no_grad():
        embedding = model.get_image_embeddings(pixel_values)
    put("embedding", embedding[0])

    def to_input(xy):  # original-frame coordinates → resized frame (processor's _normalize_coordinates)
        return [xy[0] * newW / W, xy[1] * newH / H]

    cases = {
        "point": dict(points=[(60, 50, 1)], box=None, multimask=True),
        "multipoint": dict(points=[(60, 50, 1), (40, 30, 1), (120, 80, 0)], box=None, multimask=True),
        "box": dict(points=[], box=(20, 15, 100, 85), multimask=True),
        "boxpoint": dict(points=[(60, 50, 1)], box=(20, 15, 100, 85), multimask=True),
        "maskinput": dict(points=[(60, 50, 1)], box=None, multimask=True, mask_from="point"),
        "single": dict(points=[(60, 50, 1), (40, 30, 1), (120, 80, 0)], box=None, multimask=False),
    }
    for name, c in cases.items():
        kw = {}
        if c["points"]:
            kw["input_points"] = torch.tensor([[[to_input(p[:2]) for p in c["points"]]]], dtype=torch.float32)
            kw["input_labels"] = torch.tensor([[[p[2] for p in c["points"]]]], dtype=torch.int64)
            put(f"{name}.points", torch.tensor([list(p) for p in c["points"]], dtype=torch.float32))
        if c["box"]:
            b = c["box"]
            kw["input_boxes"] = torch.tensor([[to_input(b[:2]) + to_input(b[2:])]], dtype=torch.float32)
            put(f"{name}.box", torch.tensor(b, dtype=torch.float32))
        if "mask_from" in c:
            prev = out[f"{c['mask_from']}.low_res"]
            best = int(out[f"{c['mask_from']}.iou"].argmax())
            kw["input_masks"] = prev[best][None, None]
            put(f"{name}.mask_input", prev[best])
        captured = {}
        hook = model.mask_decoder.transformer.register_forward_hook(
            lambda mod, args, kwargs_out: captured.update(out=kwargs_out))
        with torch.no_grad():
            sparse, dense = model.get_prompt_embeddings(**{k: v for k, v in kw.items()})
            res = model(image_embeddings=embedding, multimask_output=c["multimask"], **kw)
        hook.remove()
        if name == "point":   # two-way transformer outputs (queries [T, C], keys [g·g, C]) for its own test
            put("transformer.queries", captured["out"][0][0, 0])
            put("transformer.keys", captured["out"][1][0, 0])
        low = res.pred_masks[0, 0]                                     # [C, 4g, 4g]
        if sparse is not None:
            put(f"{name}.sparse", sparse[0, 0])
        put(f"{name}.dense", dense[0])
        put(f"{name}.low_res", low)
        put(f"{name}.iou", res.iou_scores[0, 0])
        up = F.interpolate(low[None], (IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
        up = up[..., :newH, :newW]
        up = F.interpolate(up, (H, W), mode="bilinear", align_corners=False)[0]
        ref = processor.post_process_masks(res.pred_masks, [(H, W)], [(newH, newW)])[0][0]
        assert torch.equal(ref, up > 0), "post_process_masks disagrees with the spec's three steps"
        out[f"{name}.masks"] = (up > 0).to(torch.uint8).contiguous()
        put(f"{name}.multimask", torch.tensor([1.0 if c["multimask"] else 0.0]))
        print(f"{name}: iou {res.iou_scores[0, 0].tolist()} area {(up > 0).sum((1, 2)).tolist()}")

    put("dense_pe", model.get_image_wide_positional_embeddings()[0])
    meta = {"generator": "python3 Tools/reference/sam_fixtures.py", "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}
    save_file(out, str(FIX / "sam_golden.safetensors"), metadata=meta)
    total = sum(f.stat().st_size for f in FIX.rglob("*") if f.is_file())
    print(f"fixtures: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
