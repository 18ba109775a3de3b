"""The training loop and its hooks, in the shape of detectron2's ``TrainerBase`` and ``HookBase``.

The loop only runs ``before_step``, :meth:`TrainerBase.run_step` and ``after_step`` for every
iteration; everything else a run does (the learning-rate schedule, the NaN guard, logs,
checkpoints, evaluation, the final results) is a hook, and a user adds one with
:meth:`TrainerBase.register_hooks` without touching the loop.
"""
from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

logger = logging.getLogger(__name__)


@dataclass
class StepOutput:
    """What one training step leaves for the hooks, as device tensors: the loss terms it minimised,
    their sum ``loss``, and detached statistics to log (e.g. the training error)."""

    losses: dict[str, torch.Tensor]
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
    loss: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.loss = sum(self.losses.values())  # type: ignore[assignment]


class HookBase:
    """Called by the loop around every step and around the whole run; override what you need.

    ``self.trainer`` is set when the hook is registered. In ``after_step``, ``trainer.iter`` is the
    iteration just done (0-based) and ``trainer.step_output`` its :class:`StepOutput`.
    ``after_train`` runs even when training stops with an error; ``trainer.completed`` tells.
    """

    trainer: TrainerBase

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass


class TrainerBase:
    """Iterations ``start_iter .. max_iter - 1`` of :meth:`run_step`, with hooks around them."""

    step_output: StepOutput  # set by each run_step

    def __init__(self) -> None:
        self._hooks: list[HookBase] = []
        self.iter = self.start_iter = self.max_iter = 0
        self.completed = False

    def register_hooks(self, hooks: Iterable[HookBase | None]) -> None:
        """Append ``hooks`` (None entries are skipped); they run in registration order."""
        for hook in hooks:
            if hook is None:
                continue
            # A proxy, so a hook kept by the trainer does not keep the trainer alive in a cycle.
            hook.trainer = weakref.proxy(self)
            self._hooks.append(hook)

    @property
    def hooks(self) -> list[HookBase]:
        return list(self._hooks)

    def train(self, start_iter: int, max_iter: int) -> None:
        self.iter = self.start_iter = start_iter
        self.max_iter = max_iter
        self.completed = False
        try:
            self.before_train()
            for self.iter in range(start_iter, max_iter):
                self.before_step()
                self.run_step()
                self.after_step()
            self.completed = True
        except Exception as e:
            logger.error("training stopped at iteration %d: %s: %s", self.iter, type(e).__name__, e)
            raise
        finally:
            self.after_train()

    def run_step(self) -> None:
        """One iteration: set :attr:`step_output`."""
        raise NotImplementedError

    def _call_hooks(self, stage: str) -> None:
        for hook in self._hooks:
            getattr(hook, stage)()

    def before_train(self) -> None:
        self._call_hooks("before_train")

    def after_train(self) -> None:
        self._call_hooks("after_train")

    def before_step(self) -> None:
        self._call_hooks("before_step")

    def after_step(self) -> None:
        self._call_hooks("after_step")
