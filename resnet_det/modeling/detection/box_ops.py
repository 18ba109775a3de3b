"""Box encoding and the label sampling shared by the RPN and the RoI head."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torchvision.models.detection._utils import BoxCoder

# Deltas are clamped before exp() so a box never grows past 1000/16 of its source (detectron2's bound).
SCALE_CLAMP = math.log(1000.0 / 16)


def box_coder(weights: Sequence[float]) -> BoxCoder:
    """torchvision's box coder with detectron2's clamp: ``encode_single``/``decode_single``."""
    return BoxCoder(tuple(weights), bbox_xform_clip=SCALE_CLAMP)


def subsample_labels(labels: torch.Tensor, num_samples: int, positive_fraction: float,
                     positive: torch.Tensor, negative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of at most ``num_samples`` elements, up to ``positive_fraction`` of them positive.

    Positives beyond the quota and negatives beyond the remainder are dropped at random.
    """
    pos, neg = positive.nonzero().squeeze(1), negative.nonzero().squeeze(1)
    num_pos = min(pos.numel(), int(num_samples * positive_fraction))
    num_neg = min(neg.numel(), num_samples - num_pos)
    pos = pos[torch.randperm(pos.numel(), device=labels.device)[:num_pos]]
    neg = neg[torch.randperm(neg.numel(), device=labels.device)[:num_neg]]
    return pos, neg
