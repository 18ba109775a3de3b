"""Detector input handling: resize, normalise for the weight style, pad into one batch; and back."""
from __future__ import annotations

import random
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from resnet_det.modeling.detection.box_ops import scale_boxes
from resnet_det.modeling.preprocess import Normalize


def resized_shape(height: int, width: int, short: int, max_size: int) -> tuple[int, int]:
    """Shorter side to ``short`` unless the longer would pass ``max_size`` (detectron2's rounding)."""
    scale = short / min(height, width)
    new_h, new_w = height * scale, width * scale
    if max(new_h, new_w) > max_size:
        factor = max_size / max(new_h, new_w)
        new_h, new_w = new_h * factor, new_w * factor
    return int(new_h + 0.5), int(new_w + 0.5)


class DetectionInputs(nn.Module):
    """uint8 RGB images (3 x H x W, any sizes) -> one normalised, zero-padded N x 3 x H' x W' batch.

    Training resizes each image's shorter side to its target's ``short_side`` (set by the data
    loader) or else a random choice from ``min_size_train``; testing to ``min_size_test``; 0 means
    no resizing. Targets' boxes are scaled with their image.
    """

    def __init__(self, weight_style: str, min_size_train: Sequence[int] = (800,), max_size_train: int = 1333,
                 min_size_test: int = 800, max_size_test: int = 1333) -> None:
        super().__init__()
        self.normalize = Normalize(weight_style)
        self.min_size_train, self.max_size_train = tuple(min_size_train), max_size_train
        self.min_size_test, self.max_size_test = min_size_test, max_size_test

    def _target_shape(self, height: int, width: int, target: dict | None) -> tuple[int, int]:
        if not self.training:
            short = self.min_size_test
        elif target is not None and "short_side" in target:
            short = int(target["short_side"])  # drawn by the data loader, reproducibly
        else:
            short = random.choice(self.min_size_train)
        max_size = self.max_size_train if self.training else self.max_size_test
        return (height, width) if short <= 0 else resized_shape(height, width, short, max_size)

    def forward(self, images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None = None):
        """``(batch, sizes after resizing, per-image (sx, sy) scales, scaled targets)``."""
        resized, sizes, scales, scaled_targets = [], [], [], []
        for i, image in enumerate(images):
            if image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(f"image {i}: expected a 3 x H x W RGB tensor, got shape {tuple(image.shape)}")
            h, w = image.shape[-2:]
            new_h, new_w = self._target_shape(h, w, targets[i] if targets is not None else None)
            x = image[None].float()
            if (new_h, new_w) != (h, w):
                x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
            resized.append(self.normalize(x)[0])
            sizes.append((new_h, new_w))
            scale = (new_w / w, new_h / h)
            scales.append(scale)
            if targets is not None:
                t = dict(targets[i])
                t["boxes"] = scale_boxes(t["boxes"], *scale)
                t["mask_scale"] = scale  # masks stay at full resolution; RoIs are mapped back to them
                scaled_targets.append(t)
        batch = resized[0].new_zeros((len(resized), 3, max(s[0] for s in sizes), max(s[1] for s in sizes)))
        for b, x in zip(batch, resized):
            b[:, :x.shape[1], :x.shape[2]].copy_(x)
        return batch, sizes, scales, (scaled_targets if targets is not None else None)
