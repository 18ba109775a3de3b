"""ImageNet ResNet-18/34/50/101/152 as in Table 1 of He et al. (2015), with detectron2 names."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from resnet_det.modeling.blocks import BasicBlock, BottleneckBlock, ConvNorm, ResidualBlock, make_stage
from resnet_det.modeling.norm import FrozenBatchNorm2d
from resnet_det.paper import IMAGENET_LAYOUTS

# The block type and blocks per stage (res2..res5) of each depth, from the paper's Table 1.
ARCH_SETTINGS: dict[int, tuple[type[ResidualBlock], tuple[int, int, int, int]]] = {
    depth: (BottleneckBlock if bottleneck else BasicBlock, counts)
    for depth, (counts, bottleneck) in IMAGENET_LAYOUTS.items()
}
STEM_CHANNELS = 64


@dataclass(frozen=True)
class StageSpec:
    """One residual stage of an ImageNet ResNet (Table 1): stage ``i`` (res2 is 0) is ``64 * 2**i``
    wide inside its blocks and four times that at its output for bottlenecks."""

    name: str
    block: type[ResidualBlock]
    num_blocks: int
    in_channels: int
    out_channels: int
    bottleneck_channels: int


def stage_specs(depth: int) -> list[StageSpec]:
    """res2..res5 of ResNet-``depth``."""
    if depth not in ARCH_SETTINGS:
        raise ValueError(f"unsupported depth {depth}; expected one of {sorted(ARCH_SETTINGS)}")
    block, counts = ARCH_SETTINGS[depth]
    specs, in_channels = [], STEM_CHANNELS
    for i, num_blocks in enumerate(counts):
        width = 64 * 2**i
        specs.append(StageSpec(f"res{i + 2}", block, num_blocks, in_channels, width * block.expansion, width))
        in_channels = width * block.expansion
    return specs


def build_stage(spec: StageSpec, *, stride: int, stride_in_1x1: bool, shortcut: str = "B", norm: str = "BN",
                dilation: int = 1, residual: bool = True) -> nn.Sequential:
    """The blocks of ``spec``; the first has ``stride``. ``stride_in_1x1`` only concerns bottlenecks;
    ``residual=False`` drops every shortcut (the paper's plain nets)."""
    bottleneck = {"bottleneck_channels": spec.bottleneck_channels, "stride_in_1x1": stride_in_1x1} \
        if spec.block is BottleneckBlock else {}
    return make_stage(spec.block, spec.num_blocks, spec.in_channels, spec.out_channels, stride=stride,
                      shortcut=shortcut, norm=norm, dilation=dilation, residual=residual, **bottleneck)


class FeatureInfo(NamedTuple):
    """What one output of a backbone is: its name, channels and stride w.r.t. the input."""

    name: str
    channels: int
    stride: int


class ResNetBase(nn.Module):
    """A stem, named residual stages and an optional ``linear`` classifier after global pooling.

    Subclasses build ``stem`` and the stages, then call :meth:`_finish`. A classifier built without
    ``out_features`` returns the logits tensor, as torchvision's and timm's do; with ``out_features``
    (any of the stem, the stages and ``linear``), ``forward`` returns a dict of them.
    """

    stage_names: list[str]
    feature_info: list[FeatureInfo]

    def _finish(self, stages: Sequence[tuple[str, nn.Sequential, int, int]], num_classes: int,
                out_features: Sequence[str] | None, zero_init_last: bool) -> None:
        """Register ``stages`` as ``(name, module, channels, stride)`` and the classifier."""
        self.stage_names = []
        for name, stage, channels, stride in stages:
            self.add_module(name, stage)
            self.stage_names.append(name)
            self.feature_info.append(FeatureInfo(name, channels, stride))
        self.linear = nn.Linear(self.feature_info[-1].channels, num_classes) if num_classes else None
        self.returns_logits = out_features is None and bool(num_classes)
        if out_features is None:
            out_features = ["linear"] if num_classes else [self.stage_names[-1]]
        known = [f.name for f in self.feature_info] + ["linear"]
        unknown = [f for f in out_features if f not in known]
        if unknown:
            raise ValueError(f"unknown out_features {unknown}; available: {known}")
        if "linear" in out_features and not num_classes:
            raise ValueError("out_features asks for 'linear' but num_classes is 0")
        self.out_features = list(out_features)
        if zero_init_last:
            for stage_name in self.stage_names:
                for block in getattr(self, stage_name):
                    block.zero_init_last()

    def output_shape(self) -> dict[str, FeatureInfo]:
        """Channels and stride of each requested feature map (classifier output excluded)."""
        return {f.name: f for f in self.feature_info if f.name in self.out_features}

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        outputs: dict[str, torch.Tensor] = {}
        x = self.stem(x)
        if "stem" in self.out_features:
            outputs["stem"] = x
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self.out_features:
                outputs[name] = x
        if "linear" in self.out_features:
            outputs["linear"] = self.linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
            if self.returns_logits:
                return outputs["linear"]
        return outputs

    def freeze(self, freeze_at: int) -> ResNetBase:
        """Freeze the stem (1) and the first ``freeze_at - 1`` stages, as detectron2's ``freeze_at``.

        Frozen parts stop taking gradients and their batch norms become :class:`FrozenBatchNorm2d`.
        """
        parts = ["stem", *self.stage_names]
        if not 0 <= freeze_at <= len(parts):
            raise ValueError(f"freeze_at must be in [0, {len(parts)}], got {freeze_at}")
        for name in parts[:freeze_at]:
            module = getattr(self, name)
            for p in module.parameters():
                p.requires_grad_(False)
            FrozenBatchNorm2d.convert_frozen_batchnorm(module)
        return self


class BasicStem(nn.Module):
    """7x7/2 convolution, normalisation, ReLU and 3x3/2 max pooling (stride 4 in all)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 64, norm: str = "BN") -> None:
        super().__init__()
        self.conv1 = ConvNorm(in_channels, out_channels, 7, stride=2, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu_(self.conv1(x)), kernel_size=3, stride=2, padding=1)


class ResNet(ResNetBase):
    """ResNet-18/34/50/101/152 for ImageNet-size inputs.

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_classes: size of the ``linear`` classifier; 0 builds none.
        out_features: outputs to return, from ``stem``, ``res2``..``res5``, ``linear``. Stages
            after the last one requested are not built (a C4 trunk asks for ``res4``).
        stride_in_1x1: stride in the bottleneck's first 1x1 (MSRA/caffe) instead of its 3x3
            (torchvision). No effect on basic blocks.
        shortcut: the paper's option ``"A"``, ``"B"`` (default) or ``"C"``.
        norm: ``"BN"``, ``"FrozenBN"``, ``"SyncBN"`` or ``"GN"``.
        zero_init_last: zero the last norm's scale in every block.
        freeze_at: 0 freezes nothing, 1 the stem, k the stem and res2..res(k).
        res5_dilation: 2 keeps res5 at stride 16 with dilated 3x3s (DC5 style).
        residual: ``False`` builds the plain counterpart (Table 2, Fig. 4): the same layers, no shortcuts.
    """

    def __init__(self, depth: int = 50, *, num_classes: int = 1000,
                 out_features: Sequence[str] | None = None, stride_in_1x1: bool = False,
                 shortcut: str = "B", norm: str = "BN", zero_init_last: bool = False,
                 freeze_at: int = 0, res5_dilation: int = 1, in_channels: int = 3, residual: bool = True) -> None:
        super().__init__()
        if res5_dilation not in (1, 2):
            raise ValueError(f"res5_dilation must be 1 or 2, got {res5_dilation}")
        specs = stage_specs(depth)
        self.depth = depth
        self.stem = BasicStem(in_channels, STEM_CHANNELS, norm)
        self.feature_info = [FeatureInfo("stem", STEM_CHANNELS, 4)]

        # Build up to the last stage asked for; unknown names are reported by _finish.
        requested = [int(f[3:]) for f in out_features or () if re.fullmatch(r"res[2-5]", f)]
        last = 5 if out_features is None or "linear" in out_features else max(requested, default=1)
        stages = []
        stride_so_far = 4
        for spec in specs[:last - 1]:
            dilation = res5_dilation if spec.name == "res5" else 1
            first_stride = 1 if spec.name == "res2" or dilation > 1 else 2
            stride_so_far *= first_stride
            stage = build_stage(spec, stride=first_stride, stride_in_1x1=stride_in_1x1, shortcut=shortcut,
                                norm=norm, dilation=dilation, residual=residual)
            stages.append((spec.name, stage, spec.out_channels, stride_so_far))
        self._finish(stages, num_classes, out_features, zero_init_last)
        self.freeze(freeze_at)
