"""Training checkpoints: atomic, loadable with ``weights_only=True``, enough to resume exactly.

``OUTPUT_DIR/last_checkpoint`` names the newest complete checkpoint; it is replaced only after
that checkpoint is fully on disk, so a kill at any moment leaves a resumable state.
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_det.utils.atomic import atomic_torch_save, atomic_write
from resnet_det.weights import load_state_dict_checked

logger = logging.getLogger(__name__)


class CheckpointWriteError(OSError):
    """A checkpoint could not be written; the message says which and that the previous one is intact."""


class CheckpointReadError(ValueError):
    """A checkpoint was refused; the message names it and says why."""


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
        """Write ``OUTPUT_DIR/<name>.pth`` and point ``last_checkpoint`` at it.

        A failed write (a full disk, a quota) raises :class:`CheckpointWriteError` and leaves the
        previous checkpoint and pointer as they were.
        """
        self._remove_stale_temporaries()
        payload = {"model": unwrap(self.model).state_dict(), "meta": {"format": "resnet_det", **meta},
                   **{k: v.state_dict() for k, v in self.stateful.items()}, **extra}
        path = self.output_dir / f"{name}.pth"
        try:
            atomic_torch_save(payload, path)
            atomic_write(self.output_dir / "last_checkpoint", lambda f: f.write(path.name.encode()))
        except OSError as e:
            raise CheckpointWriteError(
                f"could not write checkpoint {path} ({e.strerror or e}); the last complete checkpoint, "
                f"{self.last_checkpoint() or 'none yet'}, is intact: make room and rerun with --resume") from e
        logger.info("saved checkpoint %s", path)
        return path

    def _remove_stale_temporaries(self) -> None:
        # A process killed inside atomic_write leaves its temporary file; no reader ever uses one.
        for tmp in self.output_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def remove_old_periodic(self, keep: int) -> list[Path]:
        """Delete all but the newest ``keep`` periodic checkpoints (``model_<iteration>.pth``, by
        iteration; ``model_final.pth`` is not one); return what was deleted. Called after a save,
        so the newest, which ``last_checkpoint`` names, always stays."""
        periodic = sorted(p for p in self.output_dir.glob("model_*.pth") if p.stem[len("model_"):].isdigit())
        old = periodic[:-keep] if keep > 0 else []
        for path in old:
            path.unlink(missing_ok=True)
        if old:
            logger.info("removed %d older checkpoint(s), keeping the last %d (SOLVER.CHECKPOINT_KEEP): %s",
                        len(old), keep, ", ".join(p.name for p in old))
        return old

    def last_checkpoint(self) -> Path | None:
        pointer = self.output_dir / "last_checkpoint"
        if not pointer.is_file():
            return None
        path = self.output_dir / pointer.read_text().strip()
        return path if path.is_file() else None

    def _candidates(self) -> list[Path]:
        """The pointed-to checkpoint, then the others newest first."""
        last = self.last_checkpoint()
        others = sorted((p for p in self.output_dir.glob("model_*.pth") if p != last),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        return ([last] if last else []) + others

    def resume(self) -> dict[str, Any] | None:
        """Load the newest readable checkpoint into model and stateful objects; return it, or None.

        A checkpoint that cannot be read (damaged after it was written, e.g. by a copy) is
        skipped with a warning for the one before it. One that holds more than tensors and plain
        data is refused outright: that is tampering, not damage.
        """
        for path in self._candidates():
            try:
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as e:
                raise CheckpointReadError(f"{path}: refused to load: {e}") from None
            except (RuntimeError, EOFError, OSError, ValueError) as e:
                logger.warning("cannot read checkpoint %s (%s); trying the one before it", path, e)
                continue
            if not isinstance(ckpt, dict) or "model" not in ckpt or "iteration" not in ckpt:
                logger.warning("%s is not a resnet_det training checkpoint; trying the one before it", path)
                continue
            load_state_dict_checked(unwrap(self.model), ckpt["model"], source=str(path))
            for key, obj in self.stateful.items():
                obj.load_state_dict(ckpt[key])
            logger.info("resumed from %s (iteration %s)", path, ckpt.get("iteration"))
            return ckpt
        return None
