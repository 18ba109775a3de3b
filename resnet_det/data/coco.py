"""COCO-format instance annotations as detector targets (boxes, contiguous labels, masks)."""
from __future__ import annotations

import contextlib
import io
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from pycocotools.coco import COCO

from resnet_det.data.boxes import clip_xyxy
from resnet_det.data.coco_json import load_coco_json
from resnet_det.data.image_io import DEFAULT_MAX_PIXELS, read_rgb
from resnet_det.data.paths import DatasetNotFoundError
from resnet_det.utils.images import hwc_to_chw

logger = logging.getLogger(__name__)


class CocoDetection:
    """Images and targets of a COCO json; categories map to ``0..K-1`` in sorted id order.

    The json is checked by :func:`load_coco_json`. Training targets leave out crowd regions
    (ignored in training, as in detectron2), clip boxes to the image and drop boxes with no area
    inside it; the counts are logged once. ``coco`` keeps every checked annotation as written,
    for evaluation.
    """

    def __init__(self, json_file: str | os.PathLike, image_root: str | os.PathLike, with_masks: bool = True,
                 max_image_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        json_file, self.image_root = Path(json_file), Path(image_root)
        if not json_file.is_file():
            raise DatasetNotFoundError(f"COCO annotations not found: {json_file}")
        data, _ = load_coco_json(json_file)
        self.coco = COCO()
        self.coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            self.coco.createIndex()
        self.category_ids = sorted(self.coco.getCatIds())
        self.contiguous = {cat: i for i, cat in enumerate(self.category_ids)}
        self.image_ids = sorted(self.coco.getImgIds())
        self.with_masks, self.max_image_pixels = with_masks, max_image_pixels
        self.classes = tuple(self.coco.cats[c]["name"] for c in self.category_ids)
        counts: Counter = Counter()
        self._instances = [self._training_instances(i, counts) for i in self.image_ids]
        if counts:
            logger.info("%s: training boxes: %s", json_file, ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))

    def _training_instances(self, image_id: int, counts: Counter) -> list[tuple[list[float], dict]]:
        info = self.coco.imgs[image_id]
        kept = []
        for ann in self.coco.imgToAnns.get(image_id, []):
            if ann.get("iscrowd", 0):
                continue
            if self.with_masks and "segmentation" not in ann:
                counts["dropped without a mask"] += 1
                continue
            x, y, w, h = ann["bbox"]
            box = clip_xyxy(x, y, x + w, y + h, info["width"], info["height"])
            if box is None:
                counts["dropped without area" if w <= 0 or h <= 0 else "dropped outside the image"] += 1
                continue
            if box != [x, y, x + w, y + h]:
                counts["clipped to the image"] += 1
            kept.append((box, ann))
        return kept

    def __len__(self) -> int:
        return len(self.image_ids)

    def has_usable_boxes(self, index: int) -> bool:
        """Whether image ``index`` has a non-crowd box inside it (else training skips it)."""
        return bool(self._instances[index])

    def image_size(self, index: int) -> tuple[int, int]:
        """``(height, width)`` from the json."""
        info = self.coco.imgs[self.image_ids[index]]
        return info["height"], info["width"]

    def is_landscape(self, index: int) -> bool:
        """Whether image ``index`` is wider than tall, from the json (no decoding)."""
        height, width = self.image_size(index)
        return width > height

    def read_image(self, index: int) -> torch.Tensor:
        """The 3 x H x W uint8 image, checked against the json's size (raises ImageDecodeError)."""
        path = self.image_root / self.coco.imgs[self.image_ids[index]]["file_name"]
        image = read_rgb(path, expected_size=self.image_size(index), max_pixels=self.max_image_pixels)
        return hwc_to_chw(image)

    def target(self, index: int) -> dict:
        """Boxes (clipped x1y1x2y2), contiguous labels, masks (with ``with_masks``) and the image id."""
        instances = self._instances[index]
        target = {"boxes": torch.tensor([box for box, _ in instances], dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor([self.contiguous[a["category_id"]] for _, a in instances], dtype=torch.int64),
                  "image_id": self.image_ids[index]}
        if self.with_masks:
            h, w = self.image_size(index)
            masks = [self.coco.annToMask(a) for _, a in instances]
            target["masks"] = torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, h, w), dtype=torch.uint8)
        return target

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.read_image(index), self.target(index)
