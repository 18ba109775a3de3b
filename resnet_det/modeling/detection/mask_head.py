"""The mask head of Mask R-CNN C4, on the RoIs' res5 maps: a 2x deconvolution and a class-specific
1x1 predictor, its loss against mask targets cropped to each RoI, and its test-time output."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.modeling.detection.masks import mask_targets
from resnet_det.modeling.detection.roi_sampling import SampledRoIs
from resnet_det.modeling.detection.structures import Instances


class MaskHead(nn.Module):
    """2x2 stride-2 deconvolution, ReLU, 1x1 class-specific predictor: 7x7 res5 maps -> 14x14 logits."""

    def __init__(self, in_channels: int, num_classes: int, channels: int = 256) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.deconv = nn.ConvTranspose2d(in_channels, channels, 2, stride=2)
        self.predictor = nn.Conv2d(channels, num_classes, 1)
        nn.init.kaiming_normal_(self.deconv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.deconv.bias)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg: CfgNode, in_channels: int) -> MaskHead:
        return cls(in_channels, cfg.MODEL.ROI_HEADS.NUM_CLASSES, cfg.MODEL.ROI_MASK_HEAD.CONV_DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor(F.relu(self.deconv(x)))

    def loss(self, res5: torch.Tensor, sampled: list[SampledRoIs], classes: torch.Tensor) -> torch.Tensor:
        """Per-pixel BCE of the ground-truth class's mask on the foreground of the sampled RoIs
        (``classes`` below ``num_classes``), from their res5 maps."""
        fg = (classes < self.num_classes).nonzero().squeeze(1)  # the one host sync of the mask loss, for the batch
        if len(fg) == 0:
            return res5.sum() * 0
        logits = self(res5[fg])
        size = logits.shape[-1]
        targets = _foreground_targets(sampled, fg, size)
        logits = logits[torch.arange(len(fg), device=fg.device), classes[fg]]
        return F.binary_cross_entropy_with_logits(logits.float(), targets)

    def probs(self, res5: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each RoI's mask probabilities for its label, R x 14 x 14, from its res5 maps."""
        logits = self(res5)
        return logits[torch.arange(labels.shape[0], device=labels.device), labels].float().sigmoid()


def _foreground_targets(sampled: list[SampledRoIs], fg: torch.Tensor, size: int) -> torch.Tensor:
    """The targets of the foreground RoIs ``fg`` (positions among all images' sampled RoIs), in order."""
    if not any("polygons" in s.target for s in sampled):
        # Every sampled RoI's target on the device, image by image (masks differ in size), then the foreground's.
        return torch.cat([mask_targets(s.target, s.boxes, s.matched, size) if len(s.target["boxes"])
                          else s.boxes.new_zeros((len(s.boxes), size, size)) for s in sampled])[fg]
    # Polygons are rasterised on the host: one read of the foreground's boxes, instances and positions.
    boxes, matched = torch.cat([s.boxes for s in sampled])[fg], torch.cat([s.matched for s in sampled])[fg]
    host = torch.cat([boxes.detach().float(), matched[:, None].float(), fg[:, None].float()], 1).cpu().numpy()
    targets, start = [], 0
    for s in sampled:
        end = start + len(s.boxes)
        rows = np.flatnonzero((host[:, 5] >= start) & (host[:, 5] < end))
        if len(rows):
            picked = torch.as_tensor(rows, device=fg.device)
            targets.append(mask_targets(s.target, boxes[picked], matched[picked], size,
                                        host=(host[rows, :4], host[rows, 4].astype(int).tolist())))
        start = end
    return torch.cat(targets)


def attach_masks(results: list[Instances], probs: torch.Tensor) -> None:
    """Hand each image's detections its rows of ``probs`` (all images' masks, in order)."""
    for r, p in zip(results, probs.split([r.boxes.shape[0] for r in results])):
        r.masks = p
