"""COCO box and mask AP through pycocotools' COCOeval, in percent, with per-category AP."""
from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

_SUMMARY = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def to_coco_results(output: dict[str, torch.Tensor], image_id: int, category_ids: Sequence[int]) -> list[dict]:
    """One image's detections as COCO result records (xywh boxes, RLE masks, dataset category ids)."""
    boxes = output["boxes"].detach().cpu().numpy().astype(np.float64)
    boxes[:, 2:] -= boxes[:, :2]
    scores = output["scores"].detach().cpu().tolist()
    labels = output["labels"].detach().cpu().tolist()
    rles = None
    if "masks" in output:
        masks = output["masks"].detach().cpu().numpy().astype(np.uint8)
        rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0))) if len(masks) else []
    records = []
    for i, (box, score, label) in enumerate(zip(boxes.tolist(), scores, labels)):
        record = {"image_id": int(image_id), "category_id": int(category_ids[label]), "bbox": box, "score": score}
        if rles is not None:
            rle = rles[i]
            record["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
        records.append(record)
    return records


def evaluate_coco(coco_gt: COCO, results: list[dict], iou_types: Sequence[str] = ("bbox", "segm"),
                  image_ids: Sequence[int] | None = None) -> dict[str, dict[str, float]]:
    """AP, AP50, AP75, APs, APm, APl (percent) and ``per_category`` AP for each IoU type.

    Crowd regions in ``coco_gt`` count as crowd (matches to them are ignored), as COCOeval does.
    With no results at all, every AP is 0.
    """
    metrics = {}
    for iou_type in iou_types:
        if not results:
            metrics[iou_type] = {**{k: 0.0 for k in _SUMMARY}, "per_category": {}}
            continue
        records = results if iou_type == "segm" else [{k: v for k, v in r.items() if k != "segmentation"}
                                                       for r in results]
        with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its tables
            coco_dt = coco_gt.loadRes(records)
            evaluator = COCOeval(coco_gt, coco_dt, iou_type)
            if image_ids is not None:
                evaluator.params.imgIds = list(image_ids)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        # COCOeval reports -1 where a metric has no ground truth (e.g. no large objects): None here.
        summary = {k: float(v) * 100 if v >= 0 else None for k, v in zip(_SUMMARY, evaluator.stats[:6])}
        precision = evaluator.eval["precision"]  # iou x recall x category x area x max-dets
        per_category = {}
        for k, cat_id in enumerate(evaluator.params.catIds):
            p = precision[:, :, k, 0, -1]
            p = p[p > -1]
            per_category[coco_gt.cats[cat_id]["name"]] = float(p.mean() * 100) if p.size else float("nan")
        metrics[iou_type] = {**summary, "per_category": per_category}
    return metrics
