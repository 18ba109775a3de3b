"""Test-time augmentation of the detector: several sizes and horizontal flips, merged (detectron2's
``GeneralizedRCNNWithTTA``)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.config.keyed import FromConfig, keyed
from resnet_det.modeling.detection.box_ops import class_wise_nms
from resnet_det.modeling.detection.masks import paste_masks
from resnet_det.modeling.detection.structures import Instances


@dataclass(frozen=True)
class TTAConfig(FromConfig):
    """detectron2's ``TEST.AUG``: shorter sides, the longest side allowed, whether to flip too, and
    how the versions' detections are merged."""

    min_sizes: tuple[int, ...] = keyed("TEST.AUG.MIN_SIZES")
    max_size: int = keyed("TEST.AUG.MAX_SIZE")
    flip: bool = keyed("TEST.AUG.FLIP")
    nms_thresh: float = keyed("MODEL.ROI_HEADS.NMS_THRESH_TEST")
    detections_per_image: int = keyed("TEST.DETECTIONS_PER_IMAGE")


class TestDetector(Protocol):
    """What test-time augmentation needs of a detector (a C4RCNN, or an ensemble of them)."""

    mask_on: bool

    def __call__(self, images: Sequence[torch.Tensor], test_size: tuple[int, int] | None = None
                 ) -> list[Instances]: ...

    def mask_probs_at(self, images: Sequence[torch.Tensor], boxes: list[torch.Tensor], labels: list[torch.Tensor],
                      test_size: tuple[int, int] | None = None) -> list[torch.Tensor]: ...


def flip_boxes(boxes: torch.Tensor, width: int) -> torch.Tensor:
    """xyxy boxes of a horizontally flipped image of ``width`` pixels, in the unflipped one."""
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)


class DetectorWithTTA(nn.Module):
    """The detector run on every (size, flip) version of each image; the detections, mapped back to
    the image, are merged by NMS within each class and the best ``detections_per_image`` kept. A
    Mask R-CNN then runs its mask head on the merged boxes in every version (flipped boxes in the
    flipped images, their masks flipped back) and pastes the mean probabilities, as detectron2 does.
    """

    detector: TestDetector

    def __init__(self, detector: nn.Module, cfg: TTAConfig) -> None:
        """``detector``: a :class:`~resnet_det.modeling.detection.rcnn.C4RCNN` or an ensemble of them."""
        super().__init__()
        self.detector, self.cfg = detector, cfg  # type: ignore[assignment]

    @classmethod
    def from_config(cls, detector: nn.Module, cfg: CfgNode) -> DetectorWithTTA:
        return cls(detector, TTAConfig.from_config(cfg))

    def forward(self, images: Sequence[torch.Tensor]) -> list[Instances]:
        return [self._augmented(image) for image in images]

    def _versions(self) -> list[tuple[int, bool]]:
        return [(short, flipped) for short in self.cfg.min_sizes
                for flipped in ((False, True) if self.cfg.flip else (False,))]

    def _augmented(self, image: torch.Tensor) -> Instances:
        height, width = image.shape[-2:]
        found = []
        for short, flipped in self._versions():
            det = self.detector([image.flip(-1) if flipped else image], test_size=(short, self.cfg.max_size))[0]
            found.append(Instances(flip_boxes(det.boxes, width), det.scores, det.labels) if flipped else det)
        boxes = torch.cat([d.boxes for d in found])
        scores, labels = torch.cat([d.scores for d in found]), torch.cat([d.labels for d in found])
        keep = class_wise_nms(boxes, scores, labels, self.cfg.nms_thresh, (height, width))
        keep = keep[:self.cfg.detections_per_image]
        merged = Instances(boxes[keep], scores[keep], labels[keep])
        if self.detector.mask_on:
            merged.masks = paste_masks(self._mask_probs(image, merged), merged.boxes, height, width)
        return merged

    def _mask_probs(self, image: torch.Tensor, det: Instances) -> torch.Tensor:
        """The mean over all versions of the mask probabilities of ``det``'s boxes and labels."""
        width = image.shape[-1]
        total = torch.zeros((det.boxes.shape[0], 14, 14), device=det.boxes.device)
        for short, flipped in self._versions():
            size = (short, self.cfg.max_size)
            if flipped:
                probs = self.detector.mask_probs_at([image.flip(-1)], [flip_boxes(det.boxes, width)], [det.labels],
                                                    size)[0].flip(-1)
            else:
                probs = self.detector.mask_probs_at([image], [det.boxes], [det.labels], size)[0]
            total += probs
        return total / len(self._versions())
