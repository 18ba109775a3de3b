"""Training checkpoints: atomic, loadable with ``weights_only=True``, enough to resume exactly.

``OUTPUT_DIR/last_checkpoint`` names the newest complete checkpoint; it is replaced only after
that checkpoint is fully on disk, so a kill at any moment leaves a resumable state.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_det.utils.atomic import atomic_torch_save, atomic_write

logger = logging.getLogger(__name__)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel (or compiled) wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


class Checkpointer:
    """Saves and restores model, optimizer, scheduler and loop state under ``output_dir``."""

    def __init__(self, output_dir: str | Path, model: nn.Module, **stateful: Any) -> None:
        self.output_dir = Path(output_dir)
        self.model = model
        self.stateful = stateful  # name -> object with state_dict()/load_state_dict()

    def save(self, name: str, *, meta: dict[str, Any], **extra: Any) -> Path:
        """Write ``OUTPUT_DIR/<name>.pth`` and point ``last_checkpoint`` at it."""
        payload = {"model": unwrap(self.model).state_dict(), "meta": {"format": "resnet_det", **meta},
                   **{k: v.state_dict() for k, v in self.stateful.items()}, **extra}
        path = atomic_torch_save(payload, self.output_dir / f"{name}.pth")
        atomic_write(self.output_dir / "last_checkpoint", lambda f: f.write(path.name.encode()))
        logger.info("saved checkpoint %s", path)
        return path

    def last_checkpoint(self) -> Path | None:
        pointer = self.output_dir / "last_checkpoint"
        if not pointer.is_file():
            return None
        path = self.output_dir / pointer.read_text().strip()
        return path if path.is_file() else None

    def resume(self) -> dict[str, Any] | None:
        """Load the newest checkpoint into model and stateful objects; return it, or None."""
        path = self.last_checkpoint()
        if path is None:
            return None
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        unwrap(self.model).load_state_dict(ckpt["model"])
        for key, obj in self.stateful.items():
            obj.load_state_dict(ckpt[key])
        logger.info("resumed from %s (iteration %s)", path, ckpt.get("iteration"))
        return ckpt
