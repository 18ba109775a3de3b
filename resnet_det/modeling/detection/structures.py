"""What a detector finds in one image, as one object passed between the heads, the model and the evaluators."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass
class Instances:
    """R detections: xyxy ``boxes`` (R x 4), ``scores`` (R), contiguous class ``labels`` (R, int64) and,
    for Mask R-CNN, ``masks``: R x M x M probabilities inside the RoI heads, R x H x W booleans in
    the image once the detector has pasted them."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls, with_masks: bool = False, height: int = 0, width: int = 0) -> Instances:
        """No detections (an image that could not be read is scored as one where nothing was found)."""
        masks = torch.zeros((0, height, width), dtype=torch.bool) if with_masks else None
        return cls(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), masks)

    def to(self, device: torch.device | str) -> Instances:
        return replace(self, boxes=self.boxes.to(device), scores=self.scores.to(device),
                       labels=self.labels.to(device), masks=None if self.masks is None else self.masks.to(device))
