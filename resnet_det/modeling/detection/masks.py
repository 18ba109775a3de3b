"""Mask targets cropped to RoIs, and predicted masks pasted back into full images."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pycocotools import mask as mask_utils
from torchvision.ops import roi_align

from resnet_det.modeling.detection.box_ops import scale_boxes


def crop_and_resize_masks(masks: torch.Tensor, boxes: torch.Tensor, size: int,
                          index: torch.Tensor | None = None) -> torch.Tensor:
    """Binary ``size x size`` targets: instance mask ``index[i]`` (of G x H x W; ``i`` by default)
    sampled inside box ``i`` (R x 4). The G masks are read in place, never copied per box."""
    if len(boxes) == 0:
        return masks.new_zeros((0, size, size), dtype=torch.float32)
    if index is None:
        index = torch.arange(len(boxes), device=boxes.device)
    rois = torch.cat([index.to(boxes.dtype)[:, None], boxes], dim=1)
    sampled = roi_align(masks[:, None].float(), rois, (size, size), spatial_scale=1.0, sampling_ratio=0,
                        aligned=True)
    return (sampled[:, 0] >= 0.5).float()


def rasterize_polygons_in_box(polygons: list[np.ndarray], box: np.ndarray, size: int) -> np.ndarray:
    """A ``size x size`` bool mask of an instance's ``polygons`` inside ``box`` (x1y1x2y2, float32, in
    the polygons' pixels): each polygon moved to the box's corner, scaled by ``size`` over the box's
    side (at least 0.1), and rasterised by pycocotools, as detectron2's ``PolygonMasks.crop_and_resize``
    makes Mask R-CNN's targets, in the same arithmetic."""
    width, height = box[2] - box[0], box[3] - box[1]
    scale_x, scale_y = size / max(width, 0.1), size / max(height, 0.1)
    moved = []
    for polygon in polygons:
        p = polygon.copy()
        p[0::2] = (p[0::2] - box[0]) * scale_x
        p[1::2] = (p[1::2] - box[1]) * scale_y
        moved.append(p)
    if not moved:
        return np.zeros((size, size), dtype=bool)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(moved, size, size))).astype(bool)


def mask_targets(target: dict[str, Any], boxes: torch.Tensor, index: torch.Tensor, size: int,
                 host: tuple[np.ndarray, Sequence[int]] | None = None) -> torch.Tensor:
    """Binary ``size x size`` targets of RoIs ``boxes`` (R x 4, in the resized input) for the instances
    ``index`` of ``target``: an instance with polygons rasterised in its RoI's frame
    (:func:`rasterize_polygons_in_box`), one with a bitmask (an RLE instance, or ``INPUT.MASK_FORMAT
    bitmask``) cropped from it by RoIAlign (:func:`crop_and_resize_masks`). ``host``: the boxes and
    indices already read to the host, which polygons need (else they are read here)."""
    sx, sy = target.get("mask_scale", (1.0, 1.0))
    polygons = target.get("polygons")
    if polygons is None:
        return crop_and_resize_masks(target["masks"], scale_boxes(boxes, 1 / sx, 1 / sy), size, index)
    boxes_host, rows = host if host is not None else (boxes.detach().float().cpu().numpy(), index.tolist())
    drawn = np.zeros((len(rows), size, size), dtype=np.float32)
    for i, g in enumerate(rows):
        if polygons[g] is not None:
            drawn[i] = rasterize_polygons_in_box([_scale_xy(p, sx, sy) for p in polygons[g]], boxes_host[i], size)
    out = torch.from_numpy(drawn).to(boxes.device, non_blocking=True)
    bitmask = [i for i, g in enumerate(rows) if polygons[g] is None]
    if bitmask:
        picked = torch.tensor(bitmask, device=boxes.device)
        out[picked] = crop_and_resize_masks(target["masks"], scale_boxes(boxes[picked], 1 / sx, 1 / sy), size,
                                            index[picked])
    return out


def _scale_xy(polygon: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """A polygon in the resized input's pixels, as detectron2 resizes coordinates."""
    p = polygon.copy()
    p[0::2] *= sx
    p[1::2] *= sy
    return p


def _paste(masks: torch.Tensor, boxes: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
           threshold: float) -> torch.Tensor:
    """R x M x M probabilities sampled at pixel centres ``ys`` x ``xs`` relative to their boxes."""
    x0, y0, x1, y1 = boxes.float().unbind(1)
    gx = (xs[None] - x0[:, None]) / (x1 - x0).clamp(min=1e-6)[:, None] * 2 - 1
    gy = (ys[None] - y0[:, None]) / (y1 - y0).clamp(min=1e-6)[:, None] * 2 - 1
    height, width = ys.shape[0], xs.shape[0]
    grid = torch.stack([gx[:, None, :].expand(-1, height, -1), gy[:, :, None].expand(-1, -1, width)], dim=3)
    pasted = F.grid_sample(masks[:, None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return pasted[:, 0] >= threshold


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                threshold: float = 0.5, memory_budget: int = 256 << 20) -> torch.Tensor:
    """Paste R x M x M mask probabilities into R x ``height`` x ``width`` boolean masks.

    Each image pixel samples the mask bilinearly at its position relative to the box, so the
    pasted mask covers exactly the box (pixel centres at +0.5). Masks go in chunks sized to keep
    the sampling grid within ``memory_budget`` bytes, not one by one; an exported graph, which
    cannot loop over a count known only at run time, pastes them all at once.
    """
    ys = torch.arange(height, device=masks.device, dtype=torch.float32) + 0.5
    xs = torch.arange(width, device=masks.device, dtype=torch.float32) + 0.5
    if torch.compiler.is_exporting():
        return _paste(masks, boxes, ys, xs, threshold)
    out = torch.zeros((len(masks), height, width), dtype=torch.bool, device=masks.device)
    chunk = max(1, memory_budget // (height * width * 16))  # grid (8 bytes) + result and temporaries
    for start in range(0, len(masks), chunk):
        out[start:start + chunk] = _paste(masks[start:start + chunk], boxes[start:start + chunk], ys, xs, threshold)
    return out
