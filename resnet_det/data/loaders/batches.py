"""What the batch sources give the trainers and evaluators: named fields, never tuples read by position."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import register_dataclass


@dataclass
class LabelledImage:
    """One finished classification training sample: a 3 x H x W uint8 image and its label."""

    image: torch.Tensor
    label: int


@dataclass
class ImageBatch:
    """Classification training: N x 3 x H x W images (uint8, or float after colour noise) and N labels."""

    images: torch.Tensor
    labels: torch.Tensor


# A captured CUDA graph copies each new batch into the tensors it recorded, leaf by leaf.
register_dataclass(ImageBatch)


@dataclass
class ViewBatch:
    """Classification test: each view of the batch's images (N x 3 x H x W uint8 each) and N labels.

    A label of :data:`UNREADABLE` marks an image that could not be read: it matches no class.
    """

    views: list[torch.Tensor]
    labels: torch.Tensor


# The label of a test image that could not be read: it matches no class, so the image counts as
# misclassified and the error rate is never flattered by skipping it.
UNREADABLE = -1


@dataclass
class DetectionBatch:
    """Detection training or test: uint8 RGB 3 x H x W images and their targets (``boxes``, ``labels``,
    ``image_id``, maybe ``masks``, ``difficult`` and the loader's ``short_side``).

    In a test batch an image that could not be read is None; its target still counts.
    """

    images: list[torch.Tensor | None]
    targets: list[dict[str, Any]]

    def to(self, device: torch.device) -> DetectionBatch:
        """The batch with every tensor on ``device`` (non-blocking: the loader pins them)."""
        def move(value: Any) -> Any:
            return value.to(device, non_blocking=True) if torch.is_tensor(value) else value
        return DetectionBatch([None if im is None else move(im) for im in self.images],
                              [{k: move(v) for k, v in t.items()} for t in self.targets])
