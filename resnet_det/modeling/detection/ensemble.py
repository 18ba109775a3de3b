"""The paper's ensemble of detectors at test time (Appendix B): every member proposes, and every
member classifies and regresses the union of the proposals; their outputs are averaged."""
from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.modeling.detection.box_head import ClassBoxes, detect
from resnet_det.modeling.detection.detector_weights import load_detector_weights
from resnet_det.modeling.detection.mask_head import attach_masks
from resnet_det.modeling.detection.rcnn import C4RCNN, RoIFeatures, build_detector
from resnet_det.modeling.detection.structures import Instances
from resnet_det.utils.amp import bf16_autocast


def average_class_boxes(found: Sequence[ClassBoxes]) -> ClassBoxes:
    """The members' probabilities and class-specific boxes of the same proposals, averaged; a
    proposal is usable only if every member's outputs are finite."""
    return ClassBoxes(torch.stack([f.probs for f in found]).mean(dim=0),
                      torch.stack([f.boxes for f in found]).mean(dim=0),
                      torch.stack([f.finite for f in found]).all(dim=0))


class DetectorEnsemble(nn.Module):
    """Detectors of the same classes run as one. Each image's proposals are the union of the
    members' (each from its own RPN); each member's head scores every one of them from its own
    features, and the averaged probabilities and boxes go through the first member's selection
    (score threshold, NMS, box refinement when on); masks are the members' mean probabilities on
    the selected boxes. Members must resize images alike (the same ``INPUT`` test sizes)."""

    def __init__(self, members: Sequence[C4RCNN]) -> None:
        super().__init__()
        first = members[0]
        for i, m in enumerate(members[1:], 1):
            if m.roi_heads.num_classes != first.roi_heads.num_classes or m.mask_on != first.mask_on:
                raise ValueError(f"ensemble member {i} detects other classes or masks than member 0")
        self.members = nn.ModuleList(members)

    @property
    def detectors(self) -> list[C4RCNN]:
        return cast(list[C4RCNN], list(self.members))

    @classmethod
    def from_config(cls, detector: C4RCNN, cfg: CfgNode) -> DetectorEnsemble:
        """``detector`` (MODEL.WEIGHTS) and a detector of the same config for each of
        ``TEST.ENSEMBLE.WEIGHTS``, each loaded whole, on ``detector``'s device, in eval mode."""
        device = detector.backbone.stem.conv1.weight.device
        others = []
        for path in cfg.TEST.ENSEMBLE.WEIGHTS:
            member = build_detector(cfg)
            if load_detector_weights(member, path, strict=True).missing:
                raise ValueError(f"TEST.ENSEMBLE.WEIGHTS: {path} holds a backbone, not a trained detector")
            others.append(member.to(device).eval())
        return cls([detector, *others])

    @property
    def mask_on(self) -> bool:
        return self.detectors[0].mask_on

    def mask_probs_at(self, images: Sequence[torch.Tensor], boxes: list[torch.Tensor], labels: list[torch.Tensor],
                      test_size: tuple[int, int] | None = None) -> list[torch.Tensor]:
        """The members' :meth:`C4RCNN.mask_probs_at`, averaged."""
        found = [m.mask_probs_at(images, boxes, labels, test_size) for m in self.detectors]
        return [torch.stack(per_image).mean(dim=0) for per_image in zip(*found)]

    def forward(self, images: Sequence[torch.Tensor], test_size: tuple[int, int] | None = None) -> list[Instances]:
        first = self.detectors[0]
        with bf16_autocast(first.device_type, first.bf16):
            batches: list[RoIFeatures] = [m.roi_features(images, test_size) for m in self.detectors]
            sizes = batches[0].inputs.image_sizes
            if any(b.inputs.image_sizes != sizes for b in batches):
                raise ValueError("ensemble members resize images differently; give them the same INPUT test sizes")
            proposals = [m.proposals(b) for m, b in zip(self.detectors, batches)]
            union = [torch.cat(per_image) for per_image in zip(*proposals)]

            def score(boxes: list[torch.Tensor]) -> list[ClassBoxes]:
                found = [m.roi_heads.class_boxes(b.res5, boxes, sizes) for m, b in zip(self.detectors, batches)]
                return [average_class_boxes(per_image) for per_image in zip(*found)]

            detections = detect(score, union, sizes, first.roi_heads.box_predictor.test)
            if self.mask_on:
                boxes, labels = [d.boxes for d in detections], torch.cat([d.labels for d in detections])
                attach_masks(detections, torch.stack([m.roi_heads.mask_probs(b.res5, boxes, labels)
                                                      for m, b in zip(self.detectors, batches)]).mean(dim=0))
        return first.to_input_frame(detections, batches[0].inputs, images)
