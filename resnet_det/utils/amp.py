"""bf16 autocast as a switch."""
from __future__ import annotations

import contextlib

import torch


def bf16_autocast(device_type: str, enabled: bool):
    """``torch.autocast`` to bfloat16 on ``device_type`` when ``enabled``, else a no-op context."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()
