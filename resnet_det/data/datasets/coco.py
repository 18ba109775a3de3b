"""COCO-format instance annotations as detector targets (boxes, contiguous labels, masks)."""
from __future__ import annotations

import contextlib
import io
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from resnet_det.data.datasets.boxes import clip_xyxy
from resnet_det.data.datasets.coco_file import load_coco_json
from resnet_det.data.datasets.detection_table import DetectionTable
from resnet_det.data.datasets.paths import DatasetNotFoundError
from resnet_det.data.datasets.serialized import SerializedList
from resnet_det.data.decode.files import DEFAULT_MAX_PIXELS, read_rgb
from resnet_det.utils.geometry import hwc_to_chw
from resnet_det.utils.memory import release_free_memory

logger = logging.getLogger(__name__)


MASK_FORMATS = ("polygon", "bitmask")


def segmentation_mask(segmentation: list | dict, height: int, width: int) -> np.ndarray:
    """The ``height x width`` uint8 mask of a COCO segmentation (polygons, or RLE with list or string
    counts), as pycocotools' ``COCO.annToMask`` makes it."""
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle)


def instance_masks(segmentations: list, height: int, width: int, mask_format: str) -> dict[str, Any]:
    """Training instances' masks as the mask head takes them. ``"bitmask"``: ``masks``, G x H x W uint8.
    ``"polygon"``: ``polygons``, each instance's polygons as float64 arrays in image pixels (None for
    an RLE instance), and, only when some instance is RLE, ``masks`` with its decoded mask (zeros for
    the others): an image of polygons carries no full-resolution mask at all."""
    if mask_format == "polygon":
        polygons = [[np.asarray(p, dtype=np.float64) for p in s] if isinstance(s, list) else None
                    for s in segmentations]
        if all(p is not None for p in polygons):
            return {"polygons": polygons}
        masks = [np.zeros((height, width), np.uint8) if p is not None else segmentation_mask(s, height, width)
                 for s, p in zip(segmentations, polygons)]
        return {"polygons": polygons, "masks": torch.from_numpy(np.stack(masks))}
    masks = [segmentation_mask(s, height, width) for s in segmentations]
    return {"masks": torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, height, width), dtype=torch.uint8)}


class CocoDetection(DetectionTable):
    """Images and targets of a COCO json; categories map to ``0..K-1`` in sorted id order.

    The json is checked by :func:`load_coco_json`. Training targets leave out crowd regions
    (ignored in training, as in detectron2), clip boxes to the image and drop boxes with no area
    inside it; the counts are logged once. Each image's file name and training instances are held
    in a :class:`SerializedList` and the sizes in arrays, so DataLoader workers share them with
    the main process rather than each copying them (COCO train2017 measured in BENCHMARKS.md).
    With ``ground_truth`` (a test set), ``coco`` keeps every checked annotation as written, for
    evaluation; without it (a training set), ``coco`` is None and nothing else is kept.
    """

    def __init__(self, json_file: str | os.PathLike, image_root: str | os.PathLike, with_masks: bool = True,
                 max_image_pixels: int = DEFAULT_MAX_PIXELS, ground_truth: bool = True,
                 mask_format: str = "polygon") -> None:
        json_file, self.image_root = Path(json_file), Path(image_root)
        if not json_file.is_file():
            raise DatasetNotFoundError(f"COCO annotations not found: {json_file}")
        data, _ = load_coco_json(json_file)
        self.with_masks, self.max_image_pixels, self.mask_format = with_masks, max_image_pixels, mask_format
        categories = {c["id"]: c["name"] for c in data["categories"]}
        self.category_ids = sorted(categories)
        self.contiguous = {cat: i for i, cat in enumerate(self.category_ids)}
        self.classes = tuple(categories[c] for c in self.category_ids)
        images = sorted(data["images"], key=lambda im: im["id"])
        self.image_ids = [im["id"] for im in images]
        by_image: dict[int, list[dict]] = {}
        for ann in data.get("annotations", []):
            by_image.setdefault(ann["image_id"], []).append(ann)
        counts: Counter = Counter()
        records = [self._training_record(im, by_image.get(im["id"], []), counts) for im in images]
        self._set_table([(im["height"], im["width"]) for im in images], [len(r["labels"]) for r in records])
        self._records = SerializedList(records)
        self._file_names = SerializedList(im["file_name"] for im in images)
        if counts:
            logger.info("%s: training boxes: %s", json_file, ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        self.coco: COCO | None = None
        if ground_truth:
            self.coco = COCO()
            self.coco.dataset = data
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
                self.coco.createIndex()
        else:
            del data, by_image, records
            release_free_memory()  # the parsed json's pages, which glibc would keep resident

    def _training_record(self, image: dict, annotations: list[dict], counts: Counter) -> dict:
        """The boxes (clipped x1y1x2y2), contiguous labels and segmentations training uses of one image."""
        boxes, labels, segmentations = [], [], []
        for ann in annotations:
            if ann.get("iscrowd", 0):
                continue
            if self.with_masks and "segmentation" not in ann:
                counts["dropped without a mask"] += 1
                continue
            x, y, w, h = ann["bbox"]
            box = clip_xyxy(x, y, x + w, y + h, image["width"], image["height"])
            if box is None:
                counts["dropped without area" if w <= 0 or h <= 0 else "dropped outside the image"] += 1
                continue
            if box != [x, y, x + w, y + h]:
                counts["clipped to the image"] += 1
            boxes.append(box)
            labels.append(self.contiguous[ann["category_id"]])
            if self.with_masks:
                segmentations.append(ann["segmentation"])
        return {"boxes": np.array(boxes, dtype=np.float32).reshape(-1, 4), "labels": np.array(labels, dtype=np.int64),
                "segmentations": segmentations}

    def __len__(self) -> int:
        return len(self.image_ids)

    def image_path(self, index: int) -> Path:
        return self.image_root / self._file_names[index]

    def read_image(self, index: int) -> torch.Tensor:
        """The 3 x H x W uint8 image, checked against the json's size (raises ImageDecodeError)."""
        image = read_rgb(self.image_path(index), expected_size=self.image_size(index), max_pixels=self.max_image_pixels)
        return hwc_to_chw(image)

    def target(self, index: int) -> dict:
        """Boxes (clipped x1y1x2y2), contiguous labels, masks (with ``with_masks``, as
        :func:`instance_masks` gives them in ``mask_format``) and the image id."""
        record = self._records[index]
        target = {"boxes": torch.from_numpy(record["boxes"]), "labels": torch.from_numpy(record["labels"]),
                  "image_id": self.image_ids[index]}
        if self.with_masks:
            target.update(instance_masks(record["segmentations"], *self.image_size(index), self.mask_format))
        return target

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.read_image(index), self.target(index)
