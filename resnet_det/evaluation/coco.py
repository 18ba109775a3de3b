"""COCO box and mask AP through pycocotools' COCOeval, in percent, with per-category AP."""
from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from resnet_det.data.batches import DetectionBatch
from resnet_det.evaluation.evaluator import DatasetEvaluator, Results
from resnet_det.modeling.detection.structures import Instances
from resnet_det.utils.atomic import atomic_write_json
from resnet_det.utils.distributed import gather_to_main, is_main_process

logger = logging.getLogger(__name__)
_SUMMARY = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def to_coco_results(output: Instances, image_id: int, category_ids: Sequence[int]) -> list[dict]:
    """One image's detections as COCO result records (xywh boxes, RLE masks, dataset category ids)."""
    boxes = output.boxes.detach().cpu().numpy().astype(np.float64)
    boxes[:, 2:] -= boxes[:, :2]
    scores = output.scores.detach().cpu().tolist()
    labels = output.labels.detach().cpu().tolist()
    rles = None
    if output.masks is not None:
        masks = output.masks.detach().cpu().numpy().astype(np.uint8)
        rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0))) if len(masks) else []
    records = []
    for i, (box, score, label) in enumerate(zip(boxes.tolist(), scores, labels)):
        record = {"image_id": int(image_id), "category_id": int(category_ids[label]), "bbox": box, "score": score}
        if rles is not None:
            rle = rles[i]
            record["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
        records.append(record)
    return records


def evaluate_coco(coco_gt: COCO, results: list[dict], iou_types: Sequence[str] = ("bbox", "segm")) -> Results:
    """AP, AP50, AP75, APs, APm, APl (percent) and each category's AP (``"AP-<name>"``) for each IoU type.

    Crowd regions in ``coco_gt`` count as crowd (matches to them are ignored), as COCOeval does.
    With no results at all, every AP is 0.
    """
    metrics = {}
    for iou_type in iou_types:
        if not results:
            metrics[iou_type] = {k: 0.0 for k in _SUMMARY}
            continue
        records = results if iou_type == "segm" else [{k: v for k, v in r.items() if k != "segmentation"}
                                                       for r in results]
        with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its tables
            coco_dt = coco_gt.loadRes(records)
            evaluator = COCOeval(coco_gt, coco_dt, iou_type)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        # COCOeval reports -1 where a metric has no ground truth (e.g. no large objects): None here.
        summary = {k: float(v) * 100 if v >= 0 else None for k, v in zip(_SUMMARY, evaluator.stats[:6])}
        precision = evaluator.eval["precision"]  # iou x recall x category x area x max-dets
        per_category: dict[str, float | None] = {}
        for k, cat_id in enumerate(evaluator.params.catIds):
            p = precision[:, :, k, 0, -1]
            p = p[p > -1]
            per_category[f"AP-{coco_gt.cats[cat_id]['name']}"] = float(p.mean() * 100) if p.size else float("nan")
        metrics[iou_type] = {**summary, **per_category}
    return metrics


class COCOEvaluator(DatasetEvaluator):
    """COCO box AP, and mask AP with ``"segm"`` in ``iou_types``, of a COCO-format test set.

    Each image's detections become COCO result records (xywh boxes, RLE masks) as soon as they are
    processed, on the process that made them, so no image's full-resolution masks outlive its
    batch. Only the records are gathered, to the main process, which writes them to
    ``output_file`` (atomically) and scores them.
    """

    def __init__(self, coco_gt: COCO, category_ids: Sequence[int], iou_types: Sequence[str] = ("bbox",),
                 output_file: str | Path | None = None) -> None:
        self.coco_gt, self.category_ids, self.iou_types = coco_gt, list(category_ids), tuple(iou_types)
        self.output_file = None if output_file is None else Path(output_file)
        self._records: list[dict[str, Any]] = []

    def reset(self) -> None:
        self._records = []

    def process(self, inputs: DetectionBatch, outputs: Sequence[Instances]) -> None:
        for target, instances in zip(inputs.targets, outputs):
            self._records += to_coco_results(instances, target["image_id"], self.category_ids)

    def evaluate(self) -> Results:
        records = gather_to_main(self._records)
        if not is_main_process():
            return {}
        if self.output_file is not None:
            atomic_write_json(self.output_file, records)
        if not self.coco_gt.dataset.get("annotations"):
            logger.info("not scored: the test set has no annotations (an image list such as test-dev); its %d "
                        "detections are in %s, for the evaluation server", len(records), self.output_file)
            return {}
        return evaluate_coco(self.coco_gt, records, self.iou_types)
