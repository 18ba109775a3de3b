"""The models as exportable modules on fixed-layout tensors, and their export to ``torch.export``
programs and ONNX."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.ops import box_iou

from resnet_det.modeling.detection.rcnn import C4RCNN
from resnet_det.modeling.detection.structures import Instances
from resnet_det.modeling.preprocess import Normalize


class ExportableDetector(nn.Module):
    """The detector, postprocessing included, on one uint8 RGB image (1 x 3 x H x W) giving
    ``boxes`` (R x 4 xyxy, in its pixels), ``scores``, contiguous ``labels`` and, for Mask R-CNN,
    ``masks`` (R x H x W booleans)."""

    def __init__(self, detector: C4RCNN) -> None:
        super().__init__()
        self.detector = detector.eval()

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        det = self.detector([image[0]])[0]
        return (det.boxes, det.scores, det.labels) + (() if det.masks is None else (det.masks,))


class ExportableClassifier(nn.Module):
    """The classifier with its input normalisation, on uint8 RGB batches (N x 3 x H x W), giving
    class probabilities (N x classes)."""

    def __init__(self, classifier: nn.Module, normalize: Normalize) -> None:
        super().__init__()
        self.normalize = normalize
        self.classifier = classifier.eval()

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.normalize(images)).float().softmax(dim=1)


@dataclass(frozen=True)
class Tolerance:
    """How closely an exported model must reproduce eager PyTorch on the check images.

    Detections are compared where both are clear of the score threshold (a score within
    ``score_margin`` of it may fall on either side under other kernels): each must have a
    counterpart with the same label (the nearest in box and score), box IoU of at least ``box_iou`` (or,
    for a box of no area, every coordinate within ``box_atol`` pixels) and a score within
    ``score_atol``, and, for masks, mask IoU of at least ``mask_iou``. Classifier probabilities
    must agree within ``prob_atol``.
    """

    score_atol: float = 1e-3
    score_margin: float = 0.01
    box_iou: float = 0.99
    box_atol: float = 0.5
    mask_iou: float = 0.98
    prob_atol: float = 1e-4


def _mask_iou(a: Tensor, b: Tensor) -> float:
    union = (a | b).sum().item()
    return 1.0 if union == 0 else (a & b).sum().item() / union


def detection_disagreements(eager: Instances, exported: Instances, score_threshold: float,
                            tolerance: Tolerance) -> list[str]:
    """What in ``exported`` fails to match ``eager`` within ``tolerance`` (empty when they agree)."""
    problems = []
    clear = score_threshold + tolerance.score_margin
    for name, ours, theirs in (("eager", eager, exported), ("exported", exported, eager)):
        for i in (ours.scores >= clear).nonzero().flatten().tolist():
            label = int(ours.labels[i])
            same = (theirs.labels == label).nonzero().flatten()
            # The nearest of the label in box and score (equal boxes happen: a random detector's on
            # a blank image); a box of no area, whose IoU is 0/0, must match to within box_atol.
            distance = (theirs.boxes[same] - ours.boxes[i]).abs().amax(dim=1)
            nearest = (distance + (theirs.scores[same] - ours.scores[i]).abs()).argmin() if len(same) else None
            j = int(same[nearest]) if nearest is not None else -1
            iou = box_iou(ours.boxes[i:i + 1].float(), theirs.boxes[j:j + 1].float()).nan_to_num(0).item() \
                if j >= 0 else 0.0
            if j < 0 or (iou < tolerance.box_iou and float(distance[nearest]) > tolerance.box_atol):
                problems.append(f"{name} detection {i} (label {label}, score {float(ours.scores[i]):.4f}, box "
                                f"{[round(v, 1) for v in ours.boxes[i].tolist()]}) has no counterpart with box "
                                f"IoU >= {tolerance.box_iou}")
                continue
            if abs(float(ours.scores[i]) - float(theirs.scores[j])) > tolerance.score_atol:
                problems.append(f"{name} detection {i}: score {float(ours.scores[i]):.5f} vs "
                                f"{float(theirs.scores[j]):.5f}")
            if ours.masks is not None and theirs.masks is not None:
                if (mask_iou := _mask_iou(ours.masks[i], theirs.masks[j])) < tolerance.mask_iou:
                    problems.append(f"{name} detection {i}: mask IoU {mask_iou:.4f} < {tolerance.mask_iou}")
    return problems


def outputs_to_instances(outputs: Sequence[Tensor | np.ndarray]) -> Instances:
    """The exported detector's ``(boxes, scores, labels[, masks])`` as :class:`Instances`."""
    tensors = [torch.as_tensor(np.asarray(o)) if not isinstance(o, Tensor) else o for o in outputs]
    return Instances(tensors[0].float(), tensors[1].float(), tensors[2].long(),
                     tensors[3].bool() if len(tensors) > 3 else None)
