"""Learning-rate schedules as multipliers of the base LR: linear warmup then steps, cosine or a line."""
from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import torch

from resnet_det.config import CfgNode

LR_SCHEDULERS = ("WarmupMultiStepLR", "WarmupCosineLR", "WarmupLinearLR")


def lr_factor(iteration: int, *, name: str, max_iter: int, steps: Sequence[int] = (), gamma: float = 0.1,
              warmup_iters: int = 0, warmup_factor: float = 0.1, warmup_method: str = "linear") -> float:
    """The multiplier of the base LR at ``iteration`` (0-based).

    ``WarmupMultiStepLR`` multiplies by ``gamma`` at each of ``steps``; ``WarmupCosineLR`` decays
    to zero at ``max_iter``; ``WarmupLinearLR`` falls linearly from 1 at the end of warmup to zero at
    ``max_iter`` (with a linear warmup, FFCV's triangular "cyclic" schedule). During the first
    ``warmup_iters`` the factor is multiplied by ``warmup_factor`` (``constant``) or by a ramp from
    ``warmup_factor`` to 1 (``linear``).
    """
    if name == "WarmupMultiStepLR":
        factor = gamma ** bisect.bisect_right(list(steps), iteration)
    elif name == "WarmupCosineLR":
        factor = 0.5 * (1.0 + math.cos(math.pi * iteration / max_iter))
    elif name == "WarmupLinearLR":
        factor = min(1.0, max(0.0, (max_iter - iteration) / max(1, max_iter - warmup_iters)))
    else:
        raise ValueError(f"unknown LR scheduler {name!r}; expected one of {', '.join(LR_SCHEDULERS)}")
    if iteration < warmup_iters:
        if warmup_method == "constant":
            factor *= warmup_factor
        elif warmup_method == "linear":
            alpha = iteration / warmup_iters
            factor *= warmup_factor * (1 - alpha) + alpha
        else:
            raise ValueError(f"unknown warmup method {warmup_method!r}; expected linear or constant")
    return factor


def build_lr_scheduler(optimizer: torch.optim.Optimizer, cfg: CfgNode) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepping once per iteration, as the config's ``SOLVER`` says."""
    solver = cfg.SOLVER
    kwargs = dict(name=solver.LR_SCHEDULER_NAME, max_iter=solver.MAX_ITER, steps=solver.STEPS, gamma=solver.GAMMA,
                  warmup_iters=solver.WARMUP_ITERS, warmup_factor=solver.WARMUP_FACTOR,
                  warmup_method=solver.WARMUP_METHOD)
    lr_factor(0, **kwargs)  # fail on a bad scheduler or warmup name now, not at the first step
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_factor(it, **kwargs))


def scheduled_lr(scheduler: torch.optim.lr_scheduler.LambdaLR, iteration: int) -> float:
    """The first parameter group's learning rate at ``iteration``, from the schedule itself (a float
    on the host even where the optimizer holds its rate in a device tensor)."""
    return float(scheduler.base_lrs[0] * scheduler.lr_lambdas[0](iteration))
