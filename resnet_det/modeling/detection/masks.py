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


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int,
                threshold: float = 0.5, memory_budget: int = 256 << 20) -> torch.Tensor:
    """Paste R x M x M mask probabilities into R x ``height`` x ``width`` boolean masks.

    Each image pixel samples the mask bilinearly at its position relative to the box, so the
    pasted mask covers exactly the box (pixel centres at +0.5). Masks go in chunks sized to keep
    the sampling grid within ``memory_budget`` bytes, not one by one.
    """
    out = torch.zeros((len(masks), height, width), dtype=torch.bool, device=masks.device)
    chunk = max(1, memory_budget // (height * width * 16))  # grid (8 bytes) + result and temporaries
    ys = torch.arange(height, device=masks.device, dtype=torch.float32) + 0.5
    xs = torch.arange(width, device=masks.device, dtype=torch.float32) + 0.5
    for start in range(0, len(masks), chunk):
        m, b = masks[start:start + chunk, None].float(), boxes[start:start + chunk].float()
        x0, y0, x1, y1 = b.unbind(1)
        gx = (xs[None] - x0[:, None]) / (x1 - x0).clamp(min=1e-6)[:, None] * 2 - 1
        gy = (ys[None] - y0[:, None]) / (y1 - y0).clamp(min=1e-6)[:, None] * 2 - 1
        grid = torch.stack([gx[:, None, :].expand(-1, height, -1), gy[:, :, None].expand(-1, -1, width)], dim=3)
        pasted = F.grid_sample(m, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[start:start + chunk] = pasted[:, 0] >= threshold
    return out
