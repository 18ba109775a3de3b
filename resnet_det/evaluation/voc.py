"""PASCAL VOC detection AP: the VOC2007 11-point metric or the area under the curve (VOC2010+).

Difficult ground truth neither counts toward recall nor penalises a detection that matches it.
Boxes are in continuous pixel-edge coordinates, so IoU needs no ``+1`` terms.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

from resnet_det.data.loaders.batches import DetectionBatch
from resnet_det.evaluation.evaluator import DatasetEvaluator, Results
from resnet_det.modeling.detection.structures import Instances
from resnet_det.utils.distributed import gather_to_main, is_main_process


def average_precision(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool) -> float:
    """AP from a precision/recall curve (recall increasing)."""
    if use_07_metric:
        return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                              for t in np.linspace(0, 1, 11)]))
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # precision envelope
    changes = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[changes + 1] - r[changes]) * p[changes + 1]))


def voc_class_ap(detections: Sequence[tuple[object, float, list[float]]], ground_truth: dict,
                 iou_threshold: float, use_07_metric: bool) -> float:
    """AP of one class. ``detections``: ``(image id, score, box)``; ``ground_truth``: image id ->
    ``(boxes N x 4 tensor, difficult N bool tensor)``."""
    num_positive = sum(int((~difficult).sum()) for _, difficult in ground_truth.values())
    if num_positive == 0:
        return float("nan")
    order = sorted(range(len(detections)), key=lambda i: -detections[i][1])
    taken = {image: torch.zeros(len(boxes), dtype=torch.bool) for image, (boxes, _) in ground_truth.items()}
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for rank, i in enumerate(order):
        image, _, box = detections[i]
        boxes, difficult = ground_truth.get(image, (torch.zeros(0, 4), torch.zeros(0, dtype=torch.bool)))
        if len(boxes) == 0:
            fp[rank] = 1
            continue
        iou = box_iou(torch.tensor([box], dtype=torch.float32), boxes)[0]
        best = int(iou.argmax())
        if iou[best] < iou_threshold:
            fp[rank] = 1
        elif difficult[best]:
            continue  # neither a hit nor a miss
        elif taken[image][best]:
            fp[rank] = 1  # a duplicate of an already matched object
        else:
            tp[rank] = 1
            taken[image][best] = True
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / num_positive
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return average_precision(recall, precision, use_07_metric)


def evaluate_voc(detections: dict[int, list[tuple[object, float, list[float]]]], ground_truth: dict[int, dict],
                 class_names: Sequence[str], use_07_metric: bool) -> dict[str, float]:
    """AP50, AP75 and AP (mean over IoU 0.50:0.95), in percent, averaged over classes; each class's
    AP50 as ``"AP50-<name>"``.

    ``detections[c]``: ``(image id, score, box)`` of class ``c``; ``ground_truth[c]``: image id ->
    ``(boxes, difficult)`` of class ``c``.
    """
    per_threshold = {}
    for t in range(50, 100, 5):
        aps = [voc_class_ap(detections.get(c, []), ground_truth.get(c, {}), t / 100, use_07_metric)
               for c in range(len(class_names))]
        per_threshold[t] = aps
    mean = lambda aps: float(np.nanmean(aps) * 100)  # noqa: E731 - classes without ground truth are skipped
    return {"AP": float(np.mean([mean(per_threshold[t]) for t in per_threshold])), "AP50": mean(per_threshold[50]),
            "AP75": mean(per_threshold[75]),
            **{f"AP50-{name}": ap * 100 for name, ap in zip(class_names, per_threshold[50])}}


Detection = tuple[object, float, list[float]]  # (image id, score, xyxy box)


def detections_by_class(items: Sequence[tuple[object, Instances]]) -> dict[int, list[Detection]]:
    """``class -> [(image id, score, box)]`` of each image's detections, for :func:`evaluate_voc`."""
    grouped: dict[int, list[Detection]] = {}
    for image, found in items:
        for box, score, label in zip(found.boxes.detach().float().cpu().tolist(), found.scores.cpu().tolist(),
                                     found.labels.cpu().tolist()):
            grouped.setdefault(label, []).append((image, score, box))
    return grouped


def ground_truth_by_class(items: Sequence[tuple[object, dict[str, Any]]]) -> dict[int, dict]:
    """``class -> image id -> (boxes, difficult)`` of each image's target, for :func:`evaluate_voc`
    (every image appears for every class it has)."""
    grouped: dict[int, dict] = {}
    for image, target in items:
        labels = target["labels"].cpu()
        boxes = target["boxes"].detach().float().cpu()
        difficult = target.get("difficult", torch.zeros(len(labels), dtype=torch.bool)).cpu()
        for c in set(labels.tolist()):
            keep = labels == c
            grouped.setdefault(c, {})[image] = (boxes[keep], difficult[keep])
    return grouped


class VOCEvaluator(DatasetEvaluator):
    """PASCAL VOC box AP (task ``"bbox"``): the 11-point metric of VOC2007 or the area under the
    curve of VOC2010+, at IoU 0.5, 0.75 and averaged over 0.5:0.95, as detectron2 reports it.

    Each image is kept as its boxes alone (no masks, no images), gathered to the main process at
    :meth:`evaluate`.
    """

    def __init__(self, class_names: Sequence[str], use_07_metric: bool) -> None:
        self.class_names, self.use_07_metric = tuple(class_names), use_07_metric
        self.reset()

    def reset(self) -> None:
        self._found: list[tuple[object, Instances]] = []
        self._truth: list[tuple[object, dict[str, Any]]] = []

    def process(self, inputs: DetectionBatch, outputs: Sequence[Instances]) -> None:
        for target, found in zip(inputs.targets, outputs):
            image = target["image_id"]
            self._found.append((image, Instances(found.boxes.cpu(), found.scores.cpu(), found.labels.cpu())))
            self._truth.append((image, {k: target[k].cpu() for k in ("boxes", "labels", "difficult") if k in target}))

    def evaluate(self) -> Results:
        found, truth = gather_to_main(self._found), gather_to_main(self._truth)
        if not is_main_process():
            return {}
        return {"bbox": evaluate_voc(detections_by_class(found), ground_truth_by_class(truth), self.class_names,
                                     self.use_07_metric)}
