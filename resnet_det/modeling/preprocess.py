"""Turn uint8 RGB batches into the normalised input a set of weights expects."""
from __future__ import annotations

import torch
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.weights.styles import get_weight_style

# INPUT.NORMALIZE: the weight style's mean and std, or the CIFAR paper's per-pixel mean, which the
# network subtracts itself (its stem holds the training set's mean image).
NORMALIZATIONS = ("style", "per_pixel_mean")


class Normalize(nn.Module):
    """``(pixels - mean) / std`` in the weight style's channel order (caffe weights get BGR); with
    ``per_pixel_mean``, pixels only reordered and made float, for a network subtracting its mean image."""

    def __init__(self, weight_style: str, per_pixel_mean: bool = False) -> None:
        super().__init__()
        self.style = style = get_weight_style(weight_style)
        self.bgr = style.channel_order == "BGR"
        mean, std = ((0.0,) * 3, (1.0,) * 3) if per_pixel_mean else (style.pixel_mean, style.pixel_std)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> Normalize:
        """A classifier's input normalisation: ``MODEL.WEIGHT_STYLE`` and ``INPUT.NORMALIZE``."""
        if cfg.INPUT.NORMALIZE not in NORMALIZATIONS:
            raise ValueError(f"INPUT.NORMALIZE must be one of {NORMALIZATIONS}, got {cfg.INPUT.NORMALIZE!r}")
        return cls(cfg.MODEL.WEIGHT_STYLE, cfg.INPUT.NORMALIZE == "per_pixel_mean")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images``: N x 3 x H x W RGB, uint8 or float on the 0-255 scale."""
        if self.bgr:
            images = images.flip(1)
        return (images.float() - self.mean) / self.std
