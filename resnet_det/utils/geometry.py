"""Image layout and resize geometry shared by the loaders and the detector."""
from __future__ import annotations

import numpy as np
import torch

from resnet_det.errors import UserError


def hwc_to_chw(images: np.ndarray) -> torch.Tensor:
    """A channels-first tensor view of an ``H x W x C`` image or an ``N x H x W x C`` batch (no copy)."""
    return torch.from_numpy(images).movedim(-1, -3)


def shorter_side_shape(height: int, width: int, short: int, max_size: int | None = None) -> tuple[int, int]:
    """``(height, width)`` scaled so the shorter side is ``short``, unless the longer one would then
    pass ``max_size``, which caps it instead; the aspect ratio is kept and halves round up
    (detectron2's ``ResizeShortestEdge``)."""
    scale = short / min(height, width)
    new_h, new_w = height * scale, width * scale
    if max_size is not None and max(new_h, new_w) > max_size:
        factor = max_size / max(new_h, new_w)
        new_h, new_w = new_h * factor, new_w * factor
    return int(new_h + 0.5), int(new_w + 0.5)


class ImageSizeError(UserError, ValueError):
    """An image that cannot be resized as asked: a side would round to 0 pixels."""


def resize_problem(height: int, width: int, short: int, max_size: int | None = None) -> str | None:
    """Why an ``height x width`` image cannot be resized to the shorter side ``short`` (the longer
    capped at ``max_size``), or None: a side that rounds to 0 pixels (an extreme aspect ratio)."""
    new_h, new_w = shorter_side_shape(height, width, short, max_size)
    if min(new_h, new_w) >= 1:
        return None
    return (f"{height} x {width} image would be resized to {new_h} x {new_w} (shorter side {short}, longest "
            f"{max_size}): its aspect ratio is too extreme for a detector")


def resize_like_pil(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A uint8 3 x H x W image resized as detectron2's ``ResizeTransform`` does: PIL's bilinear
    filter (antialiased when shrinking) on the uint8 pixels, rounded to uint8; on the CPU, returned
    on the image's device."""
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy()))
    resized = np.array(pil.resize((width, height), Image.Resampling.BILINEAR))
    return hwc_to_chw(resized).to(image.device)
