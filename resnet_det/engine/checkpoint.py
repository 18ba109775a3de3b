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

from resnet_det.config.diff import config_differences
from resnet_det.errors import UserError
from resnet_det.utils.atomic import atomic_torch_save, atomic_write
from resnet_det.weights.files import torch_load_problem
from resnet_det.weights.formats import WeightsFileError, check_finite
from resnet_det.weights.loading import load_state_dict_checked

logger = logging.getLogger(__name__)


class CheckpointWriteError(UserError, OSError):
    """A checkpoint could not be written; the message says which and that the previous one is intact."""


class CheckpointReadError(UserError, ValueError):
    """A checkpoint was refused; the message names it and says why."""


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel (or compiled) wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


class Checkpointer:
    """Saves and restores model, optimizer, scheduler and loop state under ``output_dir``."""

    def __init__(self, output_dir: str | Path, model: nn.Module, *, config: str | None = None, **stateful: Any) -> None:
        self.output_dir = Path(output_dir)
        self.model = model
        self.config = config  # the run's config as YAML, to name what changed when a resume does not fit
        self.stateful = stateful  # name -> object with state_dict()/load_state_dict()
        self.resumed_from: Path | None = None  # the checkpoint resume() loaded

    def save(self, name: str, *, meta: dict[str, Any], **extra: Any) -> Path:
        """Write ``OUTPUT_DIR/<name>.pth`` and point ``last_checkpoint`` at it.

        A failed write (a full disk, a quota) raises :class:`CheckpointWriteError` and leaves the
        previous checkpoint and pointer as they were.
        """
        path = self.output_dir / f"{name}.pth"
        state = unwrap(self.model).state_dict()
        try:
            check_finite(state)
        except WeightsFileError as e:
            raise CheckpointWriteError(f"refused to write checkpoint {path}: {e}; the last complete checkpoint, "
                                       f"{self.last_checkpoint() or 'none yet'}, is intact") from None
        self._remove_stale_temporaries()
        payload = {"model": state, "meta": {"format": "resnet_det", **meta},
                   **{k: v.state_dict() for k, v in self.stateful.items()}, **extra}
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

    def _candidates(self) -> tuple[list[Path], list[str]]:
        """The pointed-to checkpoint, then the others newest first; and a note if the pointer names a
        file that is gone."""
        pointer = self.output_dir / "last_checkpoint"
        last = self.last_checkpoint()
        notes = [f"last_checkpoint names {pointer.read_text().strip()}, which is missing"] \
            if pointer.is_file() and last is None else []
        others = sorted((p for p in self.output_dir.glob("model_*.pth") if p != last),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        return ([last] if last else []) + others, notes

    def _read(self, path: Path) -> tuple[dict[str, Any] | None, str]:
        """The checkpoint in ``path``, or None and why it cannot be resumed from. Code in it is
        refused outright (:class:`CheckpointReadError`): that is tampering, not damage."""
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            refused, why = torch_load_problem(e)
            if refused:
                raise CheckpointReadError(f"{path}: refused to load: {why}") from None
            return None, f"cannot read checkpoint ({why})"
        except (RuntimeError, EOFError, OSError, ValueError) as e:
            return None, f"cannot read checkpoint ({e})"
        if not isinstance(ckpt, dict) or "model" not in ckpt or "iteration" not in ckpt:
            return None, "not a resnet_det training checkpoint"
        try:
            check_finite(ckpt["model"])
        except WeightsFileError as e:
            return None, str(e)
        return ckpt, ""

    def _restore(self, path: Path, ckpt: dict[str, Any]) -> None:
        load_state_dict_checked(unwrap(self.model), ckpt["model"], source=str(path))
        for key, obj in self.stateful.items():
            if key not in ckpt:
                raise CheckpointReadError(f"{path}: holds no {key} state to resume")
            try:
                obj.load_state_dict(ckpt[key])
            except (ValueError, KeyError, RuntimeError) as e:
                raise CheckpointReadError(
                    f"{path}: its {key} state does not fit this run's {key} ({e}){self._config_changes(ckpt)}; "
                    f"to start a new run from its weights, give MODEL.WEIGHTS {path} and another OUTPUT_DIR") from None

    def _config_changes(self, ckpt: dict[str, Any]) -> str:
        """``; the config changed since it was saved: KEY old -> new, ...`` (up to 5), or nothing."""
        if self.config is None or not isinstance(ckpt.get("config"), str):
            return ""
        changed = config_differences(ckpt["config"], self.config)
        shown = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in list(changed.items())[:5])
        return f"; the config changed since it was saved: {shown}" if changed else ""

    def resume(self) -> dict[str, Any] | None:
        """Load the newest usable checkpoint into the model and stateful objects, and return it.

        A checkpoint that cannot be read (damaged after it was written, e.g. by a copy) or holds
        non-finite weights is skipped with a warning for the one before it. With no checkpoint in
        ``output_dir`` at all, None: a run told to resume starts afresh, as detectron2's does, so one
        command serves a first start and every restart. With checkpoints of which none can be used,
        :class:`CheckpointReadError` naming each and why, rather than training from scratch over them.
        """
        candidates, tried = self._candidates()
        for path in candidates:
            ckpt, why = self._read(path)
            if ckpt is None:
                logger.warning("cannot resume from %s: %s; trying the one before it", path, why)
                tried.append(f"{path.name}: {why}")
                continue
            self._restore(path, ckpt)
            logger.info("resumed from %s (iteration %s)", path, ckpt.get("iteration"))
            self.resumed_from = path
            return ckpt
        if tried:
            raise CheckpointReadError(f"cannot resume from {self.output_dir}: no checkpoint there can be used "
                                      f"({'; '.join(tried)}); move them away to start afresh, or point OUTPUT_DIR "
                                      "elsewhere")
        return None
