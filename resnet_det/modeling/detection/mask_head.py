"""The mask head of Mask R-CNN C4, on the RoIs' res5 maps: a 2x deconvolution and a class-specific
1x1 predictor, its loss against mask targets cropped to each RoI, and its test-time output."""
from __future__ import annotations

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
        # Each image's foreground RoIs' targets (its masks differ in size and form from the others').
        ends = torch.tensor([len(s.boxes) for s in sampled]).cumsum(0).tolist()
        fg_host, targets, start = fg.cpu(), [], 0
        for s, end in zip(sampled, ends):
            local = (fg_host[(fg_host >= start) & (fg_host < end)] - start).to(fg.device)
            if len(local):
                targets.append(mask_targets(s.target, s.boxes[local], s.matched[local], size))
            start = end
        logits = logits[torch.arange(len(fg), device=fg.device), classes[fg]]
        return F.binary_cross_entropy_with_logits(logits.float(), torch.cat(targets))

    def probs(self, res5: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each RoI's mask probabilities for its label, R x 14 x 14, from its res5 maps."""
        logits = self(res5)
        return logits[torch.arange(labels.shape[0], device=labels.device), labels].float().sigmoid()


def attach_masks(results: list[Instances], probs: torch.Tensor) -> None:
    """Hand each image's detections its rows of ``probs`` (all images' masks, in order)."""
    for r, p in zip(results, probs.split([r.boxes.shape[0] for r in results])):
        r.masks = p
