"""COCO box and mask AP through pycocotools' COCOeval, in percent, with per-category AP."""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from resnet_det.data.loaders.batches import DetectionBatch
from resnet_det.evaluation.cocoeval_chunked import chunked_cocoeval
from resnet_det.evaluation.evaluator import DatasetEvaluator, Results
from resnet_det.modeling.detection.structures import Instances
from resnet_det.utils.atomic import atomic_write
from resnet_det.utils.distributed import gather_to_main, is_main_process
from resnet_det.utils.memory import release_free_memory

logger = logging.getLogger(__name__)
_SUMMARY = ("AP", "AP50", "AP75", "APs", "APm", "APl")


@dataclass
class ImageDetections:
    """One image's detections as :class:`COCOEvaluator` keeps them until scoring: xyxy ``boxes``
    and ``scores`` (float32), dataset ``category_ids`` and, for masks, their compressed RLE strings
    joined in one ``bytes`` (``rle_ends`` marks where each ends). A few arrays, not a hundred result
    dicts: BENCHMARKS.md measures the memory per image."""

    image_id: int
    boxes: np.ndarray
    scores: np.ndarray
    category_ids: np.ndarray
    mask_size: list[int] | None = None
    rle_counts: bytes = b""
    rle_ends: np.ndarray | None = None

    @classmethod
    def from_instances(cls, output: Instances, image_id: int, category_ids: Sequence[int]) -> ImageDetections:
        """``output`` (contiguous labels, masks as H x W booleans) encoded, on the host."""
        # Copies, so that no view keeps a larger tensor's storage (all the proposals) alive.
        detections = cls(int(image_id), output.boxes.detach().cpu().float().numpy().copy(),
                         output.scores.detach().cpu().float().numpy().copy(),
                         np.asarray(category_ids, dtype=np.int64)[output.labels.detach().cpu().numpy()])
        if output.masks is not None:
            masks = output.masks.detach().cpu().numpy().astype(np.uint8)
            rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0))) if len(masks) else []
            detections.mask_size = list(masks.shape[1:])
            detections.rle_counts = b"".join(r["counts"] for r in rles)
            detections.rle_ends = np.cumsum([len(r["counts"]) for r in rles], dtype=np.int64)
        return detections

    def __len__(self) -> int:
        return len(self.scores)

    def records(self) -> list[dict]:
        """COCO result records: xywh boxes, RLE ``segmentation`` when there are masks."""
        boxes = self.boxes.astype(np.float64)
        boxes[:, 2:] -= boxes[:, :2]
        records = [{"image_id": self.image_id, "category_id": int(c), "bbox": box, "score": score}
                   for box, score, c in zip(boxes.tolist(), self.scores.tolist(), self.category_ids)]
        if self.rle_ends is not None:
            starts = [0, *self.rle_ends[:-1].tolist()]
            for record, start, end in zip(records, starts, self.rle_ends.tolist()):
                record["segmentation"] = {"size": self.mask_size, "counts": self.rle_counts[start:end].decode()}
        return records


def to_coco_results(output: Instances, image_id: int, category_ids: Sequence[int]) -> list[dict]:
    """One image's detections as COCO result records (xywh boxes, RLE masks, dataset category ids)."""
    return ImageDetections.from_instances(output, image_id, category_ids).records()


def evaluate_coco(coco_gt: COCO, results: Iterable[dict] | Iterable[ImageDetections],
                  iou_types: Sequence[str] = ("bbox", "segm"), images_per_chunk: int = 500) -> Results:
    """AP, AP50, AP75, APs, APm, APl (percent) and each category's AP (``"AP-<name>"``) for each IoU type,
    of result records or :class:`ImageDetections`.

    COCOeval's numbers, computed ``images_per_chunk`` images at a time (see :func:`chunked_cocoeval`)
    so that memory does not grow with the detections' dicts of a whole test set. Crowd regions in
    ``coco_gt`` count as crowd (matches to them are ignored), as COCOeval does. With no results at
    all, every AP is 0.
    """
    by_image: dict[int, list] = {}
    for item in results:
        by_image.setdefault(item.image_id if isinstance(item, ImageDetections) else item["image_id"], []).append(item)

    def records_of(image_ids: Sequence[int], with_masks: bool) -> list[dict]:
        records = [r for i in image_ids for item in by_image.get(i, [])
                   for r in (item.records() if isinstance(item, ImageDetections) else [item])]
        # Each IoU type sees one geometry: loadRes scores the boxes of a record that has one, and takes
        # a record's area (which sorts it into small, medium or large) from its box before its mask.
        drop = "bbox" if with_masks else "segmentation"
        return [{k: v for k, v in r.items() if k != drop} for r in records]

    found = sum(len(item) if isinstance(item, ImageDetections) else 1 for items in by_image.values() for item in items)
    return {iou_type: _metrics(chunked_cocoeval(coco_gt, functools.partial(records_of, with_masks=iou_type == "segm"),
                                                iou_type, images_per_chunk), coco_gt)
            if found else {k: 0.0 for k in _SUMMARY} for iou_type in iou_types}


def _metrics(evaluator: COCOeval, coco_gt: COCO) -> dict[str, float | None]:
    """The summary and per-category AP of an accumulated COCOeval (which may then be dropped)."""
    # COCOeval reports -1 where a metric has no ground truth (e.g. no large objects): None here.
    summary = {k: float(v) * 100 if v >= 0 else None for k, v in zip(_SUMMARY, evaluator.stats[:6])}
    precision = evaluator.eval["precision"]  # iou x recall x category x area x max-dets
    per_category: dict[str, float | None] = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        per_category[f"AP-{coco_gt.cats[cat_id]['name']}"] = float(p.mean() * 100) if p.size else float("nan")
    return {**summary, **per_category}


class COCOEvaluator(DatasetEvaluator):
    """COCO box AP, and mask AP with ``"segm"`` in ``iou_types``, of a COCO-format test set.

    Each image's detections are encoded (RLE masks) into an :class:`ImageDetections` as soon as
    they are processed, on the process that made them, so no image's full-resolution masks outlive
    its batch. Only those are gathered, to the main process, which writes the COCO result records
    to ``output_file`` (atomically, an image at a time) and scores them.
    """

    def __init__(self, coco_gt: COCO, category_ids: Sequence[int], iou_types: Sequence[str] = ("bbox",),
                 output_file: str | Path | None = None) -> None:
        self.coco_gt, self.category_ids, self.iou_types = coco_gt, list(category_ids), tuple(iou_types)
        self.output_file = None if output_file is None else Path(output_file)
        self._detections: list[ImageDetections] = []

    def reset(self) -> None:
        self._detections = []

    def process(self, inputs: DetectionBatch, outputs: Sequence[Instances]) -> None:
        for target, instances in zip(inputs.targets, outputs):
            self._detections.append(ImageDetections.from_instances(instances, target["image_id"], self.category_ids))
        if any(o.masks is not None and o.masks.numel() for o in outputs):
            release_free_memory()  # the batch's full-size masks, kept resident by glibc otherwise

    def evaluate(self) -> Results:
        detections = gather_to_main(self._detections)
        if not is_main_process():
            return {}
        if self.output_file is not None:
            atomic_write(self.output_file, lambda f: write_records(f, detections))
        if not self.coco_gt.dataset.get("annotations"):
            logger.info("not scored: the test set has no annotations (an image list such as test-dev); its %d "
                        "detections are in %s, for the evaluation server", sum(map(len, detections)),
                        self.output_file)
            return {}
        return evaluate_coco(self.coco_gt, detections, self.iou_types)


def write_records(file: BinaryIO, detections: Iterable[ImageDetections]) -> None:
    """The detections' COCO result records as one JSON list, written an image at a time."""
    file.write(b"[")
    first = True
    for image in detections:
        for record in image.records():
            file.write((b"" if first else b", ") + json.dumps(record).encode())
            first = False
    file.write(b"]")
