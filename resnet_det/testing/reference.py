"""Deterministic detector weights that both this package and detectron2 can be given, so their outputs
can be recorded on one side and compared on the other without shipping a checkpoint.

Every tensor is drawn from a generator seeded by its name (``crc32``): convolutions and the RPN as
detectron2 initialises them, the predictors spread so that scores, deltas and masks vary. Frozen
batch norms then take the statistics of their input on a stated batch (the first image given) and
an affine drawn from their name, so the random trunk keeps normalised activations as a pretrained
one does. The names are detectron2's, so the state dict loads into its model unchanged.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from resnet_det.modeling.detection.rcnn import C4RCNN
from resnet_det.modeling.norm import calibrate_frozen_norms

# std of the normal draw of the layers detectron2 does not initialise with He's rule.
_STDS = {"proposal_generator.rpn_head.": 0.01, "roi_heads.box_predictor.cls_score.": 0.02,
         "roi_heads.box_predictor.bbox_pred.": 0.01, "roi_heads.mask_head.predictor.": 0.1}


def _generator(name: str) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def _std(name: str, shape: torch.Size) -> float:
    for prefix, std in _STDS.items():
        if name.startswith(prefix):
            return std
    fan_out = shape[0] * math.prod(shape[2:])  # He's rule, fan-out, for a ReLU network
    return math.sqrt(2.0 / fan_out)


@torch.no_grad()
def seed_weights(model: nn.Module) -> None:
    """Every parameter of ``model`` drawn from its name: weights normal (:func:`_std`), biases zero."""
    for name, param in model.named_parameters():
        if name.endswith(".bias"):
            param.zero_()
        else:
            param.copy_(torch.randn(param.shape, generator=_generator(name)) * _std(name, param.shape))


@torch.no_grad()
def reference_detector(model: C4RCNN, images: Sequence[torch.Tensor]) -> C4RCNN:
    """``model`` (in eval mode) with seeded weights and its frozen norms calibrated on ``images[0]``:
    the trunk on that image as the model prepares it, then the res5 head on the trunk's res4."""
    seed_weights(model)
    names = {id(m): n for n, m in model.named_modules()}

    def affine(norm: nn.Module) -> None:
        g = _generator(names[id(norm)])
        weight, bias = cast(torch.Tensor, norm.weight), cast(torch.Tensor, norm.bias)
        weight.copy_(torch.rand(weight.shape, generator=g) + 0.5)
        bias.copy_(torch.rand(bias.shape, generator=g) * 0.4 - 0.2)

    model.eval()
    batch = model.inputs(list(images[:1])).tensor
    features = calibrate_frozen_norms(model.backbone, lambda: model.backbone(batch), affine)["res4"]
    calibrate_frozen_norms(model.roi_heads.res5, lambda: model.roi_heads.res5(features), affine)
    return model
