"""Mask targets cropped to RoIs, and predicted masks pasted back into full images."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


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
