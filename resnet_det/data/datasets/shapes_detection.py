"""A built-in detection dataset: coloured shapes with exact masks, written once as COCO json + PNGs.

Generated deterministically on first use under the cache directory, so the whole detection
pipeline (loading, training, COCO evaluation) runs with no download.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from resnet_det.data.datasets.shapes import background, bright_colour, shape_mask
from resnet_det.utils.atomic import atomic_write_json
from resnet_det.utils.cache import cache_dir

logger = logging.getLogger(__name__)

DETECTION_SHAPES = ("circle", "square", "triangle")
_VERSION = "v1"
_SPLITS = {"train": (192, 0), "val": (48, 1)}  # images, seed
_SIZE = (160, 192)  # height, width


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    h, w = _SIZE
    image = background(rng, max(h, w))[:h, :w]
    occupied = np.zeros((h, w), bool)
    objects = []
    for _ in range(int(rng.integers(1, 5))):
        label = int(rng.integers(len(DETECTION_SHAPES)))
        radius = float(rng.uniform(14, 40))
        center = (float(rng.uniform(radius, w - radius)), float(rng.uniform(radius, h - radius)))
        mask = shape_mask(DETECTION_SHAPES[label], max(h, w), center, radius, angle=float(rng.uniform(-0.3, 0.3)))
        mask = mask[:h, :w] & ~occupied  # later shapes do not cover earlier ones
        if mask.sum() < 64:
            continue
        occupied |= mask
        image[mask] = bright_colour(rng)
        objects.append({"label": label, "mask": mask})
    return image.astype(np.uint8), objects


def _write_split(root: Path, split: str) -> Path:
    count, seed = _SPLITS[split]
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    (root / split).mkdir(parents=True, exist_ok=True)
    for image_id in range(1, count + 1):
        image, objects = _scene(rng)
        file_name = f"{image_id:05d}.png"
        cv2.imwrite(str(root / split / file_name), image[:, :, ::-1])
        images.append({"id": image_id, "file_name": file_name, "height": _SIZE[0], "width": _SIZE[1]})
        for obj in objects:
            rle = mask_utils.encode(np.asfortranarray(obj["mask"].astype(np.uint8)))
            x, y, bw, bh = mask_utils.toBbox(rle).tolist()
            rle["counts"] = rle["counts"].decode()
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": obj["label"] + 1,
                                "bbox": [x, y, bw, bh], "area": float(mask_utils.area(rle)), "iscrowd": 0,
                                "segmentation": rle})
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(DETECTION_SHAPES)]
    json_file = root / "annotations" / f"{split}.json"
    payload = {"images": images, "annotations": annotations, "categories": categories}
    # The json is written last and atomically: its presence means the split is complete.
    atomic_write_json(json_file, payload)
    return json_file


def shapes_detection_split(split: str) -> tuple[Path, Path]:
    """``(json file, image folder)`` of the ``"train"`` or ``"val"`` split, generating it if needed."""
    if split not in _SPLITS:
        raise KeyError(f"shapes detection split must be one of {sorted(_SPLITS)}, got {split!r}")
    root = cache_dir() / f"shapes_detection_{_VERSION}"
    json_file = root / "annotations" / f"{split}.json"
    if not json_file.is_file():
        logger.info("generating the built-in shapes detection set (%s) in %s", split, root)
        _write_split(root, split)
    return json_file, root / split
