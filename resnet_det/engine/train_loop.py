"""The training loop, its hooks and the run state they share, in the shape of detectron2's
``TrainerBase`` and ``HookBase``.

The loop only runs ``before_step``, :meth:`TrainerBase.run_step` and ``after_step`` for every
iteration; everything else a run does (the learning-rate schedule, the NaN guard, logs,
checkpoints, evaluation) is a hook, and a user adds one with :meth:`TrainerBase.register_hooks`
without touching the loop. Hooks read and write the run through its :class:`RunState` (where the
run stands, what the last step and the last evaluation gave, where events go), never through a
trainer's own attributes, so they import nothing from the trainers.
"""
from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from resnet_det.engine.events import EventWriter

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


@dataclass
class RunState:
    """What a run's loop and hooks share.

    ``iter`` is the iteration in progress (after a step: the one just done, 0-based) of
    ``start_iter .. max_iter - 1``; ``completed`` is set when the last one is done. ``step_output``
    and ``data_time`` (seconds the step waited for its batch) are the last step's. ``results`` holds
    the latest evaluation, ``{test set: {task: {metric: value}}}``; ``events`` is the run's event
    stream (``metrics.json``, TensorBoard) while it trains.
    """

    start_iter: int = 0
    max_iter: int = 0
    iter: int = 0
    completed: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    step_output: StepOutput | None = None
    data_time: float = 0.0
    results: dict[str, Any] = field(default_factory=dict)
    events: EventWriter | None = None


class HookBase:
    """Called by the loop around every step and around the whole run; override what you need.

    ``self.state`` is the run's :class:`RunState`. ``after_train`` runs even when training stops
    with an error; ``state.completed`` tells.
    """

    loop: TrainerBase  # set when the hook is registered

    @property
    def state(self) -> RunState:
        return self.loop.state

    @property
    def step_output(self) -> StepOutput:
        """The step just done (in ``after_step``)."""
        assert self.state.step_output is not None, "read in after_step, once a step has run"
        return self.state.step_output

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

    def __init__(self) -> None:
        self._hooks: list[HookBase] = []
        self.state = RunState()

    def register_hooks(self, hooks: Iterable[HookBase | None]) -> None:
        """Append ``hooks`` (None entries are skipped); they run in registration order."""
        for hook in hooks:
            if hook is None:
                continue
            # A proxy, so a hook kept by the loop does not keep the loop alive in a cycle.
            hook.loop = weakref.proxy(self)
            self._hooks.append(hook)

    @property
    def hooks(self) -> list[HookBase]:
        return list(self._hooks)

    def train(self, start_iter: int, max_iter: int) -> None:
        state = self.state
        state.iter = state.start_iter = start_iter
        state.max_iter = max_iter
        state.completed = False
        try:
            self._call_hooks("before_train")
            for state.iter in range(start_iter, max_iter):
                self._call_hooks("before_step")
                self.run_step()
                self._call_hooks("after_step")
            state.completed = True
        except Exception as e:
            logger.error("training stopped at iteration %d: %s: %s", state.iter, type(e).__name__, e)
            raise
        finally:
            self._call_hooks("after_train")

    def run_step(self) -> None:
        """One iteration: set ``state.step_output``."""
        raise NotImplementedError

    def _call_hooks(self, stage: str) -> None:
        for hook in self._hooks:
            getattr(hook, stage)()
