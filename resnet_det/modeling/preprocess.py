"""Turn uint8 RGB batches into the normalised input a set of weights expects."""
from __future__ import annotations

import torch
from torch import nn

from resnet_det.weights import get_weight_style


class Normalize(nn.Module):
    """``(pixels - mean) / std`` in the weight style's channel order (caffe weights get BGR)."""

    def __init__(self, weight_style: str) -> None:
        super().__init__()
        self.style = style = get_weight_style(weight_style)
        self.bgr = style.channel_order == "BGR"
        self.register_buffer("mean", torch.tensor(style.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(style.pixel_std).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``images``: N x 3 x H x W RGB, uint8 or float on the 0-255 scale."""
        if self.bgr:
            images = images.flip(1)
        return (images.float() - self.mean) / self.std
