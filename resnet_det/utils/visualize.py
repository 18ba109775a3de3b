"""Draw boxes, class names, scores and masks on an image (OpenCV, no display needed)."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

_PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]], np.uint8)


def draw_instances(image: np.ndarray, boxes: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], *,
                   scores: torch.Tensor | None = None, masks: torch.Tensor | None = None,
                   score_threshold: float = 0.5, mask_alpha: float = 0.45) -> np.ndarray:
    """A copy of ``image`` (H x W x 3 uint8 RGB) with xyxy ``boxes`` and their class names drawn on
    it, with ``scores`` (instances below ``score_threshold`` are left out; ground truth has none)
    and boolean ``masks`` where given."""
    canvas = image.copy()
    keep = torch.ones(len(labels), dtype=torch.bool) if scores is None else scores.cpu() >= score_threshold
    labels = labels.cpu()[keep].tolist()
    boxes = boxes.cpu()[keep].round().int().tolist()
    kept_scores = scores.cpu()[keep].tolist() if scores is not None else [None] * len(labels)
    masks = masks.cpu()[keep].numpy().astype(bool) if masks is not None else [None] * len(labels)
    for box, label, score, mask in zip(boxes, labels, kept_scores, masks):
        colour = _PALETTE[label % len(_PALETTE)]
        if mask is not None:
            canvas[mask] = (canvas[mask] * (1 - mask_alpha) + colour * mask_alpha).astype(np.uint8)
        x0, y0, x1, y1 = box
        c = tuple(int(v) for v in colour)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), c, 2)
        text = class_names[label] + ("" if score is None else f" {score:.2f}")
        cv2.putText(canvas, text, (x0 + 2, max(y0 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1, cv2.LINE_AA)
    return canvas
