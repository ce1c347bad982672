#!/usr/bin/env python3
"""Segment-everything golden masks: segment-anything's own SamAutomaticMaskGenerator driving the embedded SAM.

    pip install --no-deps --target /tmp/sa segment-anything==1.0      # the generator's code, from PyPI
    pip install --no-deps --target /tmp/cv opencv-python-headless     # only for min_mask_region_area
    PYTHONPATH=/tmp/sa:/tmp/cv python3 Tools/reference/automask_fixtures.py [--model Weights/prism-sam-tiny]
      → Tests/PrismSAMTests/Fixtures/automask/automask.json   per case: the generator's settings and every mask
                                                            record (COCO RLE string, area, bbox, predicted_iou,
                                                            stability_score, point_coords, crop_box)
      → Tests/PrismSAMTests/Fixtures/automask/shapes.png      the second case's image (made here, seed fixed)

The generator is segment-anything 1.0's SamAutomaticMaskGenerator, unchanged: point grid, batches of
points_per_batch, predicted-IoU and stability filters, boxes, crop-edge filter, RLE, per-crop box NMS, crop NMS,
small-region post-processing. Only its predictor is swapped for one that runs the weights through transformers'
SamModel (the model Prism's SAM port is tested against), with SamPredictor's own pre- and post-processing
(ResizeLongestSide, pixel mean/std, zero padding, Sam.postprocess_masks). torchvision (used by segment-anything for
batched_nms, box_area and the PIL resize) cannot be installed beside this machine's torch, so when it is missing a
stand-in module provides those three functions with torchvision's semantics: boxes sorted by score (descending,
ties in input order), a box suppressed when its IoU with a kept one is > the threshold, areas (x1 − x0)·(y1 − y0);
resize = PIL.Image.resize(size[::-1], BILINEAR).

Needs torch, transformers, numpy, Pillow, pycocotools; the outputs are committed (small). Never run in CI.
"""
import argparse
import json
import pathlib
import platform
import sys
import types
from importlib import metadata

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/PrismSAMTests/Fixtures/automask"


def install_torchvision_stand_in():
    try:
        import torchvision  # noqa: F401
        return "torchvision " + torchvision.__version__
    except ImportError:
        pass

    def box_area(boxes):
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def nms(boxes, scores, iou_threshold):
        order = torch.sort(scores, descending=True, stable=True).indices
        boxes = boxes.double()
        area = box_area(boxes)
        keep, suppressed = [], torch.zeros(len(boxes), dtype=torch.bool)
        for i in order.tolist():
            if suppressed[i]:
                continue
            keep.append(i)
            xx0 = torch.maximum(boxes[i, 0], boxes[:, 0]); yy0 = torch.maximum(boxes[i, 1], boxes[:, 1])
            xx1 = torch.minimum(boxes[i, 2], boxes[:, 2]); yy1 = torch.minimum(boxes[i, 3], boxes[:, 3])
            inter = (xx1 - xx0).clamp(min=0) * (yy1 - yy0).clamp(min=0)
            iou = inter / (area[i] + area - inter)
            suppressed |= iou > iou_threshold
        return torch.tensor(keep, dtype=torch.int64)

    def batched_nms(boxes, scores, idxs, iou_threshold):
        assert bool((idxs == idxs[0]).all()) if len(idxs) else True, "stand-in handles one category"
        return nms(boxes, scores, iou_threshold)

    def resize(img, size):
        return img.resize((size[1], size[0]), Image.BILINEAR)

    def to_pil_image(array):
        return Image.fromarray(array)

    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    boxes_mod = types.ModuleType("torchvision.ops.boxes")
    boxes_mod.batched_nms, boxes_mod.box_area = batched_nms, box_area
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.resize, functional.to_pil_image = resize, to_pil_image
    tv.ops, ops.boxes, tv.transforms, transforms.functional = ops, boxes_mod, transforms, functional
    sys.modules.update({"torchvision": tv, "torchvision.ops": ops, "torchvision.ops.boxes": boxes_mod,
                        "torchvision.transforms": transforms, "torchvision.transforms.functional": functional})
    return "stand-in (torchvision not installed)"


class HFSamPredictor:
    """segment-anything's SamPredictor interface over transformers' SamModel (same pre/post-processing)."""

    pixel_mean = torch.tensor([123.675, 116.28, 103.53]).view(-1, 1, 1)
    pixel_std = torch.tensor([58.395, 57.12, 57.375]).view(-1, 1, 1)

    def __init__(self, hf_model):
        from segment_anything.modeling import Sam
        from segment_anything.utils.transforms import ResizeLongestSide
        self.hf = hf_model
        self.img_size = hf_model.config.vision_config.image_size
        self.model = types.SimpleNamespace(mask_threshold=0.0, image_format="RGB",
                                           image_encoder=types.SimpleNamespace(img_size=self.img_size))
        self.transform = ResizeLongestSide(self.img_size)
        self._postprocess = lambda m, i, o: Sam.postprocess_masks(self.model, m, i, o)
        self.device = torch.device("cpu")
        self.reset_image()

    def reset_image(self):
        self.features, self.is_image_set = None, False

    @torch.no_grad()
    def set_image(self, image, image_format="RGB"):
        x = torch.as_tensor(self.transform.apply_image(image)).permute(2, 0, 1).float()
        self.original_size, self.input_size = image.shape[:2], tuple(x.shape[-2:])
        x = (x - self.pixel_mean) / self.pixel_std
        x = F.pad(x, (0, self.img_size - x.shape[2], 0, self.img_size - x.shape[1]))
        self.features = self.hf.get_image_embeddings(x[None])
        self.is_image_set = True

    @torch.no_grad()
    def predict_torch(self, point_coords, point_labels, boxes=None, mask_input=None, multimask_output=True,
                      return_logits=False):
        assert boxes is None and mask_input is None
        out = self.hf(image_embeddings=self.features, input_points=point_coords[None].float(),
                      input_labels=point_labels[None], multimask_output=multimask_output)
        low = out.pred_masks[0]                              # [B, M, 4g, 4g]
        masks = self._postprocess(low, self.input_size, self.original_size)
        if not return_logits:
            masks = masks > 0.0
        return masks, out.iou_scores[0], low


def records(anns):
    from pycocotools import mask as mask_utils
    out = []
    for a in anns:
        seg = a["segmentation"]
        assert int(mask_utils.area({"size": seg["size"], "counts": seg["counts"].encode()})) == a["area"]
        out.append({"segmentation": seg, "area": int(a["area"]), "bbox": [float(v) for v in a["bbox"]],
                    "predicted_iou": float(a["predicted_iou"]), "stability_score": float(a["stability_score"]),
                    "point_coords": [[float(v) for v in p] for p in a["point_coords"]],
                    "crop_box": [float(v) for v in a["crop_box"]]})
    return out


def shapes_image():
    sys.path.insert(0, str(ROOT / "Tools/train"))
    from scenes import make_scene
    scene = make_scene(np.random.default_rng(11), min_side=300, max_side=300, max_objects=6, max_occlusion=0.2)
    return scene["image"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "Weights/prism-sam-tiny"))
    a = ap.parse_args()
    from transformers import SamModel               # before the stand-in: transformers probes for torchvision
    tv = install_torchvision_stand_in()
    from segment_anything import SamAutomaticMaskGenerator

    torch.manual_seed(0)
    hf = SamModel.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    OUT.mkdir(parents=True, exist_ok=True)
    shapes = shapes_image()
    Image.fromarray(shapes).save(OUT / "shapes.png", optimize=True)
    cases = [
        ("scene_default", "Weights/examples/scene.png", {}),
        ("shapes_crops", "Tests/PrismSAMTests/Fixtures/automask/shapes.png",
         dict(points_per_side=16, crop_n_layers=1, min_mask_region_area=60)),
    ]
    out = []
    for name, path, settings in cases:
        image = np.asarray(Image.open(ROOT / path).convert("RGB"))
        gen = SamAutomaticMaskGenerator(types.SimpleNamespace(image_encoder=types.SimpleNamespace(img_size=hf.config.vision_config.image_size)),
                                        output_mode="coco_rle", **settings)
        gen.predictor = HFSamPredictor(hf)
        anns = gen.generate(image)
        out.append({"name": name, "image": path, "settings": settings, "masks": records(anns)})
        print(f"{name}: {len(anns)} masks")
    meta = {"generator": "Tools/reference/automask_fixtures.py", "segment_anything": metadata.version("segment-anything"),
            "torch": torch.__version__, "transformers": metadata.version("transformers"), "torchvision": tv,
            "pycocotools": metadata.version("pycocotools"), "model": str(pathlib.Path(a.model).name),
            "python": platform.python_version()}
    (OUT / "automask.json").write_text(json.dumps({"meta": meta, "cases": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
