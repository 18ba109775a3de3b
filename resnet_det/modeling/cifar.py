"""The CIFAR-10 networks of Sec. 4.2: ResNet-(6n+2) and plain nets with the same layers."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from resnet_det.modeling.blocks import BasicBlock, ConvNorm, make_stage
from resnet_det.modeling.resnet import FeatureInfo, ResNetBase


class CifarStem(nn.Module):
    """A single 3x3 convolution with normalisation and ReLU (no pooling); with ``mean_image_size``,
    first the subtraction of a per-pixel mean image (Sec. 4.2), a buffer the trainer fills from the
    training set and checkpoints carry (``stem.pixel_mean``)."""

    pixel_mean: torch.Tensor | None

    def __init__(self, in_channels: int, out_channels: int, norm: str, mean_image_size: int = 0) -> None:
        super().__init__()
        self.conv1 = ConvNorm(in_channels, out_channels, 3, norm=norm)
        self.register_buffer("pixel_mean", torch.zeros(in_channels, mean_image_size, mean_image_size)
                             if mean_image_size else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pixel_mean is not None:
            if x.shape[1:] != self.pixel_mean.shape:
                raise ValueError(f"the per-pixel mean is {tuple(self.pixel_mean.shape)}; got images of "
                                 f"{tuple(x.shape[1:])} (INPUT.CROP_SIZE and the test views must match it)")
            x = x - self.pixel_mean
        return F.relu_(self.conv1(x))


class CifarResNet(ResNetBase):
    """6n+2 weighted layers: a 3x3 stem, then 2n 3x3 layers at each of 3 widths, pool, linear.

    The stages are named ``res2``, ``res3``, ``res4`` (feature maps 32, 16, 8 on CIFAR).

    Args:
        depth: 6n + 2 for n >= 1 (the paper uses 20, 32, 44, 56, 110, 1202).
        residual: ``False`` builds the plain counterpart (no shortcuts at all).
        shortcut: ``"A"`` (the paper's choice on CIFAR), ``"B"`` or ``"C"``.
        widths: filters per stage, 16/32/64 in the paper.
        mean_image_size: side of the per-pixel mean image the stem subtracts (0: none).
    """

    def __init__(self, depth: int = 20, *, num_classes: int = 10, residual: bool = True,
                 shortcut: str = "A", norm: str = "BN", zero_init_last: bool = False,
                 widths: Sequence[int] = (16, 32, 64), out_features: Sequence[str] | None = None,
                 in_channels: int = 3, mean_image_size: int = 0) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1, got {depth}")
        self.depth = depth
        n = (depth - 2) // 6
        self.stem = CifarStem(in_channels, widths[0], norm, mean_image_size)
        self.feature_info = [FeatureInfo("stem", widths[0], 1)]
        stages = []
        in_ch, stride_so_far = widths[0], 1
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            stride_so_far *= stride
            stage = make_stage(BasicBlock, n, in_ch, width, stride=stride, shortcut=shortcut,
                               norm=norm, residual=residual)
            stages.append((f"res{i + 2}", stage, width, stride_so_far))
            in_ch = width
        self._finish(stages, num_classes, out_features, zero_init_last)
