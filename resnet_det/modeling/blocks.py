"""Residual building blocks (He et al. 2015, Fig. 2 and Fig. 5) and the stages made of them.

Names follow detectron2: each convolution owns its normalisation as ``<conv>.norm`` and the
projection shortcut is ``shortcut``, so ``res2.0.conv1.norm.weight`` means the same here, in
detectron2 and in its MSRA checkpoints.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resnet_det.modeling.norm import FrozenBatchNorm2d, get_norm

SHORTCUT_OPTIONS = ("A", "B", "C")


class ConvNorm(nn.Conv2d):
    """A bias-free convolution followed by its own normalisation layer ``norm``.

    A frozen norm is a per-channel affine, so it is folded into the convolution as it runs: the
    weights are scaled per output channel and the shift becomes the bias. That saves a full read
    and write of the output in the forward pass and again in the backward pass, and gradients
    still reach ``weight`` as they would through the separate affine. Parameter names and
    checkpoints are unchanged.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 dilation: int = 1, norm: str = "BN") -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, bias=not norm)
        self.norm = get_norm(norm, out_channels)
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.norm, FrozenBatchNorm2d):
            scale, shift = self.norm.scale_shift()
            return self._conv_forward(x, self.weight * scale.view(-1, 1, 1, 1), shift)
        return self.norm(super().forward(x))


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: identity, subsampled by ``stride``, with the new channels zero."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = out_channels - in_channels
        self.stride = stride
        if self.extra_channels < 0:
            raise ValueError("option A shortcuts cannot reduce the number of channels")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"extra_channels={self.extra_channels}, stride={self.stride}"


def make_shortcut(in_channels: int, out_channels: int, stride: int, option: str,
                  norm: str) -> nn.Module | None:
    """The shortcut of a block under the paper's options (Sec. 4.1, Table 3).

    A: zero-padded identity where the shape changes; B: projection where the shape changes;
    C: projection everywhere. ``None`` means a plain identity.
    """
    if option not in SHORTCUT_OPTIONS:
        raise ValueError(f"unknown shortcut option {option!r}; expected one of {SHORTCUT_OPTIONS}")
    reshapes = in_channels != out_channels or stride != 1
    if option == "C" or (option == "B" and reshapes):
        return ConvNorm(in_channels, out_channels, 1, stride=stride, norm=norm)
    if option == "A" and reshapes:
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return None


class ResidualBlock(nn.Module):
    """Shared forward of both block types: convs, then ``relu(branch + shortcut)``."""

    convs: tuple[str, ...]

    def __init__(self, in_channels: int, out_channels: int, stride: int, shortcut: str, norm: str,
                 residual: bool) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.residual = residual
        self.shortcut = make_shortcut(in_channels, out_channels, stride, shortcut, norm) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i, name in enumerate(self.convs):
            out = getattr(self, name)(out)
            if i < len(self.convs) - 1:
                out = F.relu_(out)
        if self.residual:
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return F.relu_(out)

    @property
    def last_norm(self) -> nn.Module:
        return getattr(self, self.convs[-1]).norm

    def zero_init_last(self) -> None:
        """Start the residual branch at zero so the block begins as (nearly) the identity."""
        weight = getattr(self.last_norm, "weight", None)
        if isinstance(weight, nn.Parameter):
            nn.init.zeros_(weight)


class BasicBlock(ResidualBlock):
    """Two 3x3 convolutions (ResNet-18/34 and the CIFAR nets)."""

    expansion = 1
    convs = ("conv1", "conv2")

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, shortcut: str = "B",
                 norm: str = "BN", dilation: int = 1, residual: bool = True) -> None:
        super().__init__(in_channels, out_channels, stride, shortcut, norm, residual)
        self.conv1 = ConvNorm(in_channels, out_channels, 3, stride=stride, dilation=dilation, norm=norm)
        self.conv2 = ConvNorm(out_channels, out_channels, 3, dilation=dilation, norm=norm)


class BottleneckBlock(ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand (ResNet-50/101/152).

    ``stride_in_1x1=True`` puts the stride in the first 1x1 (MSRA/caffe weights, the paper's
    FLOPs); ``False`` puts it in the 3x3 (torchvision weights).
    """

    expansion = 4
    convs = ("conv1", "conv2", "conv3")

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, shortcut: str = "B",
                 norm: str = "BN", dilation: int = 1, residual: bool = True,
                 bottleneck_channels: int | None = None, stride_in_1x1: bool = False) -> None:
        super().__init__(in_channels, out_channels, stride, shortcut, norm, residual)
        mid = bottleneck_channels or out_channels // self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = ConvNorm(in_channels, mid, 1, stride=stride_1x1, norm=norm)
        self.conv2 = ConvNorm(mid, mid, 3, stride=stride_3x3, dilation=dilation, norm=norm)
        self.conv3 = ConvNorm(mid, out_channels, 1, norm=norm)


def make_stage(block: type[ResidualBlock], num_blocks: int, in_channels: int, out_channels: int,
               *, stride: int, **block_kwargs) -> nn.Sequential:
    """``num_blocks`` blocks; the first changes the shape (``stride``, channels), the rest keep it."""
    blocks = []
    for i in range(num_blocks):
        blocks.append(block(in_channels, out_channels, stride=stride if i == 0 else 1, **block_kwargs))
        in_channels = out_channels
    return nn.Sequential(*blocks)
