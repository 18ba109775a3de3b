"""Draw boxes, class names, scores and masks on an image with torchvision's drawing utilities."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

# Ten distinct colours; a class id takes the one at its index modulo ten.
_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
            (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def draw_instances(image: np.ndarray, boxes: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], *,
                   scores: torch.Tensor | None = None, masks: torch.Tensor | None = None,
                   score_threshold: float = 0.5, mask_alpha: float = 0.45) -> np.ndarray:
    """A copy of ``image`` (H x W x 3 uint8 RGB) with xyxy ``boxes`` and their class names drawn on
    it, with ``scores`` (instances below ``score_threshold`` are left out; ground truth has none)
    and boolean ``masks`` where given."""
    keep = torch.ones(len(labels), dtype=torch.bool) if scores is None else scores.cpu() >= score_threshold
    labels = labels.cpu()[keep]
    canvas = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    if not len(labels):
        return image.copy()
    colours = [_PALETTE[int(label) % len(_PALETTE)] for label in labels]
    if masks is not None:
        canvas = draw_segmentation_masks(canvas, masks.cpu()[keep].bool(), alpha=mask_alpha, colors=colours)
    text = [class_names[int(label)] for label in labels]
    if scores is not None:
        text = [f"{name} {score:.2f}" for name, score in zip(text, scores.cpu()[keep].tolist())]
    canvas = draw_bounding_boxes(canvas, boxes.cpu()[keep].float(), labels=text, colors=colours, width=2,
                                 fill_labels=True, label_colors="white")
    return canvas.permute(1, 2, 0).numpy().copy()
