"""Detector input handling: resize, normalise for the weight style, pad into one batch."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.modeling.detection.box_ops import scale_boxes
from resnet_det.modeling.preprocess import Normalize
from resnet_det.utils.geometry import ImageSizeError, resize_like_pil, resize_problem, shorter_side_shape

RESIZE_MODES = ("torch", "pil")


@dataclass
class PreparedInputs:
    """A normalised, zero-padded N x 3 x H x W batch; each image's size in it and ``(sx, sy)`` scale
    from the caller's pixels; in training the targets with their boxes scaled alike."""

    tensor: torch.Tensor
    image_sizes: list[tuple[int, int]]
    scales: list[tuple[float, float]]
    targets: list[dict[str, Any]] | None


class DetectionInputs(nn.Module):
    """uint8 RGB images (3 x H x W, any sizes) -> :class:`PreparedInputs`.

    Testing resizes each image's shorter side to ``min_size_test`` (0: no resizing). Training
    resizes it to its target's ``short_side``, which the data loader draws from the seed
    (``INPUT.MIN_SIZE_TRAIN``), and keeps the image's size when a target has none. The longer side
    is capped at ``max_size_train`` / ``max_size_test``. ``resize`` is ``"torch"`` (antialiased
    bilinear on floats) or ``"pil"`` (detectron2's PIL resize of the uint8 image, on the CPU).
    """

    def __init__(self, weight_style: str, max_size_train: int = 1333, min_size_test: int = 800,
                 max_size_test: int = 1333, resize: str = "torch") -> None:
        super().__init__()
        if resize not in RESIZE_MODES:
            raise ValueError(f"INPUT.RESIZE must be one of {RESIZE_MODES}, got {resize!r}")
        self.normalize = Normalize(weight_style)
        self.max_size_train = max_size_train
        self.min_size_test, self.max_size_test = min_size_test, max_size_test
        self.resize = resize

    @classmethod
    def from_config(cls, cfg: CfgNode) -> DetectionInputs:
        return cls(cfg.MODEL.WEIGHT_STYLE, max_size_train=cfg.INPUT.MAX_SIZE_TRAIN,
                   min_size_test=cfg.INPUT.MIN_SIZE_TEST, max_size_test=cfg.INPUT.MAX_SIZE_TEST,
                   resize=cfg.INPUT.RESIZE)

    def _resized(self, image: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """1 x 3 x ``height`` x ``width`` floats (0-255) of a 3 x H x W image."""
        if image.shape[-2:] == (height, width):
            return image[None].float()
        if self.resize == "pil":
            if image.dtype != torch.uint8:
                raise ValueError(f"INPUT.RESIZE pil resizes uint8 images; got {image.dtype}")
            return resize_like_pil(image, height, width)[None].float()
        return F.interpolate(image[None].float(), size=(height, width), mode="bilinear", align_corners=False,
                             antialias=True)

    def _target_shape(self, height: int, width: int, target: dict | None,
                      test_size: tuple[int, int] | None) -> tuple[int, int]:
        if not self.training:
            short, max_size = test_size or (self.min_size_test, self.max_size_test)
        else:
            short, max_size = int(target.get("short_side", 0)) if target is not None else 0, self.max_size_train
        if short <= 0:
            return height, width
        if problem := resize_problem(height, width, short, max_size):
            raise ImageSizeError(problem)
        return shorter_side_shape(height, width, short, max_size)

    def forward(self, images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None = None,
                test_size: tuple[int, int] | None = None) -> PreparedInputs:
        """``test_size`` (shorter side, longest side) replaces the test sizes for this call."""
        resized, sizes, scales, scaled_targets = [], [], [], []
        for i, image in enumerate(images):
            if image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(f"image {i}: expected a 3 x H x W RGB tensor, got shape {tuple(image.shape)}")
            h, w = image.shape[-2:]
            try:
                new_h, new_w = self._target_shape(h, w, targets[i] if targets is not None else None, test_size)
            except ImageSizeError as e:
                raise ImageSizeError(f"image {i}: {e}") from None
            resized.append(self.normalize(self._resized(image, new_h, new_w))[0])
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
        return PreparedInputs(batch, sizes, scales, scaled_targets if targets is not None else None)
