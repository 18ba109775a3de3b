"""COCO-format instance annotations as detector targets (boxes, contiguous labels, masks)."""
from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

import numpy as np
import torch
from pycocotools.coco import COCO

from resnet_det.data.cls_transforms import read_rgb
from resnet_det.data.paths import DatasetNotFoundError

logger = logging.getLogger(__name__)


class CocoDetection:
    """Images and targets of a COCO json; categories map to ``0..K-1`` in sorted id order.

    Crowd regions are left out of the targets (they are ignored in training); boxes with no area
    are dropped with a logged count.
    """

    def __init__(self, json_file: str | os.PathLike, image_root: str | os.PathLike, with_masks: bool = True) -> None:
        json_file, self.image_root = Path(json_file), Path(image_root)
        if not json_file.is_file():
            raise DatasetNotFoundError(f"COCO annotations not found: {json_file}")
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            self.coco = COCO(str(json_file))
        self.category_ids = sorted(self.coco.getCatIds())
        self.contiguous = {cat: i for i, cat in enumerate(self.category_ids)}
        self.image_ids = sorted(self.coco.getImgIds())
        self.with_masks = with_masks
        self.classes = tuple(self.coco.cats[c]["name"] for c in self.category_ids)

    def __len__(self) -> int:
        return len(self.image_ids)

    def has_usable_boxes(self, index: int) -> bool:
        """Whether image ``index`` has a non-crowd box of positive size (else training skips it)."""
        anns = self.coco.imgToAnns.get(self.image_ids[index], [])
        return any(not a.get("iscrowd", 0) and a["bbox"][2] > 0 and a["bbox"][3] > 0 for a in anns)

    def is_landscape(self, index: int) -> bool:
        """Whether image ``index`` is wider than tall, from the json (no decoding)."""
        info = self.coco.imgs[self.image_ids[index]]
        return info["width"] > info["height"]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        info = self.coco.loadImgs(self.image_ids[index])[0]
        image = torch.from_numpy(read_rgb(self.image_root / info["file_name"])).permute(2, 0, 1)
        anns = [a for a in self.coco.loadAnns(self.coco.getAnnIds(imgIds=info["id"])) if not a.get("iscrowd", 0)]
        boxes, labels, masks, dropped = [], [], [], 0
        for a in anns:
            x, y, w, h = a["bbox"]
            if w <= 0 or h <= 0:
                dropped += 1
                continue
            boxes.append([x, y, x + w, y + h])
            labels.append(self.contiguous[a["category_id"]])
            if self.with_masks:
                masks.append(self.coco.annToMask(a))
        if dropped:
            logger.info("%s: dropped %d boxes without area", info["file_name"], dropped)
        h, w = image.shape[-2:]
        target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor(labels, dtype=torch.int64), "image_id": info["id"]}
        if self.with_masks:
            target["masks"] = torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, h, w), dtype=torch.uint8)
        return image, target
