"""Fold frozen batch norms into the convolutions before them, for inference and frozen trunks."""
from __future__ import annotations

import torch
from torch import nn

from resnet_det.modeling.blocks import ConvNorm
from resnet_det.modeling.norm import FrozenBatchNorm2d


@torch.no_grad()
def fold_frozen_batchnorm(model: nn.Module) -> nn.Module:
    """Rewrite every ``ConvNorm`` whose norm is frozen as one biased convolution, in place.

    ``conv(x) * scale + shift`` equals a conv with weights scaled per output channel and bias
    ``shift``; this removes a full read and write of every activation. Parameter names change
    (``.norm.*`` disappear, ``.bias`` appears), so fold after loading weights, not before saving.
    """
    for module in model.modules():
        if isinstance(module, ConvNorm) and isinstance(module.norm, FrozenBatchNorm2d):
            scale, shift = module.norm.scale_shift()
            module.weight.mul_(scale.view(-1, 1, 1, 1))
            bias = shift if module.bias is None else module.bias * scale + shift
            module.bias = nn.Parameter(bias, requires_grad=module.weight.requires_grad)
            module.norm = nn.Identity()
    return model
