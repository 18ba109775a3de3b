"""Which proposals the RoI head trains on: each matched to the ground truth (detectron2's Matcher
rule) and sampled to a fixed number per image with a share of foreground."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torchvision.ops import box_iou

from resnet_det.config.keyed import FromConfig, keyed
from resnet_det.modeling.detection.matching import check_match_rule, match_boxes, sample_labels


@dataclass(frozen=True)
class RoISampling(FromConfig):
    """MODEL.ROI_HEADS' training settings: RoIs per image, their foreground share, the matching rule
    (a best IoU in ``[thresholds[i-1], thresholds[i])`` gets ``labels[i]``: -1 ignored, 0 background,
    1 foreground), and whether the ground-truth boxes join the proposals."""

    batch_size_per_image: int = keyed("MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE")
    positive_fraction: float = keyed("MODEL.ROI_HEADS.POSITIVE_FRACTION")
    iou_thresholds: tuple[float, ...] = keyed("MODEL.ROI_HEADS.IOU_THRESHOLDS")
    iou_labels: tuple[int, ...] = keyed("MODEL.ROI_HEADS.IOU_LABELS")
    proposal_append_gt: bool = keyed("MODEL.ROI_HEADS.PROPOSAL_APPEND_GT")

    def __post_init__(self) -> None:
        check_match_rule(self.iou_thresholds, self.iou_labels, "MODEL.ROI_HEADS")


@dataclass
class SampledRoIs:
    """One image's RoIs sampled for the losses: boxes, classes (``num_classes`` for background), the
    index of each one's matched ground truth (0 for background) and the image's target."""

    boxes: torch.Tensor
    classes: torch.Tensor
    matched: torch.Tensor
    target: dict[str, Any]


def sample_rois(proposals: list[torch.Tensor], targets: list[dict[str, torch.Tensor]], cfg: RoISampling,
                num_classes: int) -> list[SampledRoIs]:
    """Match each image's proposals (plus its ground truth) to its targets and sample the RoIs of the
    losses. One host sync per image."""
    sampled = []
    for boxes, target in zip(proposals, targets):
        gt_boxes, gt_labels = target["boxes"], target["labels"]
        if cfg.proposal_append_gt:
            boxes = torch.cat([boxes, gt_boxes.to(boxes.dtype)])
        classes = torch.full((len(boxes),), num_classes, dtype=torch.int64, device=boxes.device)
        matched = torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device)
        label = torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device)  # no ground truth: background
        if len(gt_boxes):
            match = match_boxes(box_iou(gt_boxes, boxes), cfg.iou_thresholds, cfg.iou_labels, allow_low_quality=False)
            matched, label = torch.where(match.label == 1, match.index, 0), match.label
            classes = torch.where(label == 1, gt_labels[matched], classes)
        pos, neg = sample_labels(label == 1, label == 0, cfg.batch_size_per_image, cfg.positive_fraction)
        keep = (pos | neg).nonzero().squeeze(1)
        sampled.append(SampledRoIs(boxes[keep], classes[keep], matched[keep], target))
    return sampled
