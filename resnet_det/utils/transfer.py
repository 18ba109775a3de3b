"""Host-to-device copies that do not stall the GPU's queue."""
from __future__ import annotations

import torch


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` on ``device``. To a GPU it goes through pinned memory without blocking: a copy from
    pageable memory makes the host wait until the GPU has run everything queued before it."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
