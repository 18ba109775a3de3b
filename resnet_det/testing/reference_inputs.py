"""The inputs on which resnet_det is compared with detectron2: real COCO images from the shared test
data, the detector settings both sides run with, and fixed boxes and detections. The recording tool
(``tools/record_detectron2_reference.py``) and the tests both take them from here, so the two sides
cannot drift apart."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from fvcore.common.config import CfgNode

from resnet_det.config import get_cfg
from resnet_det.data.datasets.coco import CocoDetection
from resnet_det.testing.records import encode_rle

# Test proposals per image: fewer than detectron2's 1000, so a CPU compares R50-C4 in seconds.
TEST_PROPOSALS = 200
# Training with every labelled anchor and RoI sampled (so random sampling picks the same set on both
# sides), from 100 proposals per image.
EXHAUSTIVE_SAMPLING = {"RPN.BATCH_SIZE_PER_IMAGE": 100_000, "RPN.POSITIVE_FRACTION": 1.0,
                       "RPN.PRE_NMS_TOPK_TRAIN": 1000, "RPN.POST_NMS_TOPK_TRAIN": 100,
                       "ROI_HEADS.BATCH_SIZE_PER_IMAGE": 100_000, "ROI_HEADS.POSITIVE_FRACTION": 1.0}
# (shorter side, horizontal flip) of the training views compared with detectron2's DatasetMapper.
DATA_VIEW_DRAWS = ((640, False), (800, True))


def detector_config(mask_on: bool, resize: int, **overrides: Any) -> CfgNode:
    """R50-C4 with detectron2's C4 defaults (``get_cfg()``), on the CPU, resizing test images to
    ``resize`` (0: not at all) as detectron2 does (PIL bilinear), with ``TEST_PROPOSALS``."""
    cfg = get_cfg()
    cfg.MODEL.DEVICE, cfg.MODEL.MASK_ON = "cpu", mask_on
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.RESIZE = resize, "pil"
    cfg.MODEL.RPN.POST_NMS_TOPK_TEST = TEST_PROPOSALS
    cfg.merge_from_list([x for item in overrides.items() for x in item])
    return cfg


def val_images(data: Path) -> list[torch.Tensor]:
    """The first 3 coco_mini val images (by file name), uint8 RGB 3 x H x W."""
    dataset = CocoDetection(data / "coco_mini/annotations/instances_val2017.json", data / "coco_mini/val2017",
                            with_masks=False, ground_truth=False)
    order = sorted(range(len(dataset)), key=lambda i: str(dataset.image_path(i)))
    return [dataset.read_image(i) for i in order[:3]]


def train_dataset(data: Path) -> CocoDetection:
    """coco_mini's training set, with polygon masks."""
    return CocoDetection(data / "coco_mini/annotations/instances_train2017.json", data / "coco_mini/train2017",
                         with_masks=True, mask_format="polygon", ground_truth=False)


def train_images(data: Path) -> list[tuple[torch.Tensor, dict]]:
    """The first 2 coco_mini train images whose every instance is a polygon, with their targets
    (clipped boxes, contiguous labels, polygons)."""
    dataset = train_dataset(data)
    chosen = []
    for i in range(len(dataset)):
        target = dataset.target(i)
        if len(target["boxes"]) and "masks" not in target:
            chosen.append((dataset.read_image(i), target))
        if len(chosen) == 2:
            return chosen
    raise ValueError(f"{data}/coco_mini has fewer than 2 training images of polygons only")


def mask_target_boxes(box: torch.Tensor, seed: int) -> torch.Tensor:
    """Six RoIs around a ground-truth box (x1y1x2y2): itself, and five shifted and rescaled by up to a
    quarter of its size, as proposals matched to it are."""
    g = np.random.default_rng(seed)
    x1, y1, x2, y2 = box.tolist()
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    jitter = g.uniform(-0.25, 0.25, (5, 4)) * np.array([w, h, w, h])
    around = np.concatenate([[[x1, y1, x2, y2]], np.array([x1, y1, x2, y2]) + jitter])
    around[:, 2:] = np.maximum(around[:, 2:], around[:, :2] + 1.0)
    return torch.tensor(around, dtype=torch.float32)


def evaluation_detections(data: Path) -> list[dict]:
    """COCO result records on coco_mini val: every ground-truth instance (crowds left out) as a
    detection with its box shifted, a seeded score, its category, and its mask (RLE), plus a shifted
    copy of every third one (a false positive): a fixed set on which AP is neither 0 nor 100. Box
    coordinates are multiples of 1/64 px, which float32 holds exactly with their sums, so a side that
    converts boxes (detectron2 keeps them as float32 x1y1x2y2) scores the very same IoUs."""
    from pycocotools.coco import COCO
    coco = COCO(str(data / "coco_mini/annotations/instances_val2017.json"))
    g = np.random.default_rng(0)
    records = []
    for n, ann in enumerate(a for a in coco.dataset["annotations"] if not a["iscrowd"]):
        image = coco.imgs[ann["image_id"]]
        rle = encode_rle(coco.annToMask(ann))
        x, y, w, h = ann["bbox"]
        for shift in ((2.0, 0.0), (w / 3, h / 3)) if n % 3 == 0 else ((2.0, 0.0),):
            box = [_exact(min(x + shift[0], image["width"] - 1.0)), _exact(y + shift[1]), _exact(w), _exact(h)]
            records.append({"image_id": ann["image_id"], "category_id": ann["category_id"], "bbox": box,
                            "score": float(g.uniform(0.05, 1.0)),
                            "segmentation": rle})
    return records


def _exact(value: float) -> float:
    return round(value * 64) / 64
