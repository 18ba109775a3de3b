"""Anchors on one feature map, laid out as detectron2's DefaultAnchorGenerator lays them out."""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn


class AnchorGenerator(nn.Module):
    """``len(sizes) * len(aspect_ratios)`` anchors centred on every feature-map cell.

    A size ``s`` and aspect ratio ``r`` (height / width) give a box of area ``s**2``, unrounded.
    Anchors are ordered location-major (row, column), then size, then ratio, matching the
    channel order of the RPN head's outputs and detectron2's weights.
    """

    def __init__(self, sizes: Sequence[float] = (32, 64, 128, 256, 512),
                 aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0), stride: int = 16) -> None:
        super().__init__()
        self.stride = stride
        cells = []
        for size, ratio in itertools.product(sizes, aspect_ratios):
            w = math.sqrt(size * size / ratio)
            h = ratio * w
            cells.append([-w / 2, -h / 2, w / 2, h / 2])
        self.register_buffer("cell_anchors", torch.tensor(cells), persistent=False)

    @property
    def num_anchors(self) -> int:
        return self.cell_anchors.shape[0]

    def forward(self, height: int, width: int) -> torch.Tensor:
        """``(height * width * A, 4)`` anchors in input-image pixels for a ``height x width`` map."""
        device = self.cell_anchors.device
        xs = torch.arange(width, device=device, dtype=torch.float32) * self.stride
        ys = torch.arange(height, device=device, dtype=torch.float32) * self.stride
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([x, y, x, y], dim=-1).reshape(-1, 1, 4)
        return (shifts + self.cell_anchors.view(1, -1, 4)).reshape(-1, 4)
