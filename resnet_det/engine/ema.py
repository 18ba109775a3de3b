"""An exponential moving average of the weights (``torch.optim.swa_utils.AveragedModel``), updated
by a hook, checkpointed and resumed with the run, and evaluated beside the raw weights."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from resnet_det.config import CfgNode
from resnet_det.engine.train_loop import HookBase


class WeightEMA:
    """``average <- decay * average + (1 - decay) * weights`` over parameters and buffers (batch-norm
    statistics included, as torchvision's recipe averages them), each ``period`` iterations. Until
    ``warmup_iters`` the average copies the weights, as torchvision's recipe restarts it while the
    learning rate warms up."""

    def __init__(self, model: nn.Module, decay: float, period: int = 1, warmup_iters: int = 0) -> None:
        self.model, self.period, self.warmup_iters = model, period, warmup_iters
        self.average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    @classmethod
    def from_config(cls, cfg: CfgNode, model: nn.Module) -> WeightEMA | None:
        """``SOLVER.EMA``'s average of ``model``; None when it is off."""
        ema = cfg.SOLVER.EMA
        return cls(model, ema.DECAY, ema.PERIOD, cfg.SOLVER.WARMUP_ITERS) if ema.ENABLED else None

    @torch.no_grad()
    def update(self, iteration: int) -> None:
        """Average in the weights after ``iteration`` (0-based) when it ends a period."""
        if (iteration + 1) % self.period:
            return
        self.average.update_parameters(self.model)
        if iteration < self.warmup_iters:
            self.average.n_averaged.zero_()  # the next update copies again

    def state_dict(self) -> dict[str, Any]:
        return self.average.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average.load_state_dict(state)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averaged weights in ``model`` for the duration (its own are put back after)."""
        own = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.average.module.state_dict())
        try:
            yield
        finally:
            self.model.load_state_dict(own)


class EMAUpdate(HookBase):
    """Updates a :class:`WeightEMA` after each step, before the step's checkpoint is written."""

    def __init__(self, ema: WeightEMA) -> None:
        self.ema = ema

    def after_step(self) -> None:
        self.ema.update(self.state.iter)
