"""Test-time augmentation of the detector: several sizes and horizontal flips, merged (detectron2's
``GeneralizedRCNNWithTTA`` for boxes)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.modeling.detection.box_ops import class_wise_nms
from resnet_det.modeling.detection.rcnn import C4RCNN
from resnet_det.modeling.detection.structures import Instances


@dataclass(frozen=True)
class TTAConfig:
    """detectron2's ``TEST.AUG``: shorter sides, the longest side allowed, and whether to flip too."""

    min_sizes: tuple[int, ...] = (400, 500, 600, 700, 800, 900, 1000, 1100, 1200)
    max_size: int = 4000
    flip: bool = True
    nms_thresh: float = 0.5
    detections_per_image: int = 100

    @classmethod
    def from_config(cls, cfg: CfgNode) -> TTAConfig:
        return cls(tuple(cfg.TEST.AUG.MIN_SIZES), cfg.TEST.AUG.MAX_SIZE, cfg.TEST.AUG.FLIP,
                   cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST, cfg.TEST.DETECTIONS_PER_IMAGE)


def flip_boxes(boxes: torch.Tensor, width: int) -> torch.Tensor:
    """xyxy boxes of a horizontally flipped image of ``width`` pixels, in the unflipped one."""
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)


class DetectorWithTTA(nn.Module):
    """The detector run on every (size, flip) version of each image; the detections, mapped back to
    the image, are merged by NMS within each class and the best ``detections_per_image`` kept.

    Boxes only: a Mask R-CNN would have to keep every pass's full-resolution masks, or re-run its
    mask head on the merged boxes, and is refused rather than given unaugmented masks.
    """

    def __init__(self, detector: C4RCNN, cfg: TTAConfig) -> None:
        super().__init__()
        if detector.roi_heads.mask_head is not None:
            raise ValueError("TEST.AUG supports box detection only; turn it off for Mask R-CNN")
        self.detector, self.cfg = detector, cfg

    @classmethod
    def from_config(cls, detector: C4RCNN, cfg: CfgNode) -> DetectorWithTTA:
        return cls(detector, TTAConfig.from_config(cfg))

    def forward(self, images: Sequence[torch.Tensor]) -> list[Instances]:
        return [self._augmented(image) for image in images]

    def _augmented(self, image: torch.Tensor) -> Instances:
        height, width = image.shape[-2:]
        found = []
        for short in self.cfg.min_sizes:
            for flipped in (False, True) if self.cfg.flip else (False,):
                det = self.detector([image.flip(-1) if flipped else image], test_size=(short, self.cfg.max_size))[0]
                found.append(Instances(flip_boxes(det.boxes, width), det.scores, det.labels) if flipped else det)
        boxes = torch.cat([d.boxes for d in found])
        scores, labels = torch.cat([d.scores for d in found]), torch.cat([d.labels for d in found])
        keep = class_wise_nms(boxes, scores, labels, self.cfg.nms_thresh, (height, width))
        keep = keep[:self.cfg.detections_per_image]
        return Instances(boxes[keep], scores[keep], labels[keep])
