"""The hooks every training run registers (see :meth:`resnet_det.engine.trainer.Trainer.build_hooks`).

Each is one concern of a run, and reads and writes the run through its
:class:`~resnet_det.engine.train_loop.RunState` alone. They run in registration order: the NaN
guard names a divergence before the checkpointer (which refuses non-finite weights itself) would,
and PreciseBN's statistics are in place before the checkpoint and the evaluation that follow it.
"""
from __future__ import annotations

import datetime
import logging
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_det.engine.lr_scheduler import scheduled_lr
from resnet_det.engine.train_loop import HookBase
from resnet_det.errors import UserError
from resnet_det.evaluation.evaluator import flatten_results
from resnet_det.utils.distributed import all_reduce_sum, get_world_size, is_main_process

logger = logging.getLogger(__name__)


class NonFiniteLossError(UserError, FloatingPointError):
    """The training loss (or the weights) became NaN or infinite."""


def all_finite(model: nn.Module) -> bool:
    """Parameters and buffers (batch-norm statistics overflow too) are all finite."""
    return all(bool(t.isfinite().all()) for t in model.state_dict().values() if t.is_floating_point())


class LRScheduler(HookBase):
    """Steps the learning-rate schedule after every iteration."""

    def __init__(self, scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        self.scheduler = scheduler

    def after_step(self) -> None:
        self.scheduler.step()


class NonFiniteGuard(HookBase):
    """Stops the run when the loss became NaN or infinite, or the weights did, naming the last good checkpoint.

    The loss is tested on the device at every step and read back every ``period`` iterations and
    at the last, so the guard costs one host sync per period. A finite loss can come with a step
    that overflowed the weights, so at every ``weights_period``-th iteration (when a checkpoint is
    due) and at the last the weights are tested too: nothing non-finite is ever saved.
    """

    def __init__(self, period: int, weights_period: int, model: nn.Module,
                 last_checkpoint: Callable[[], Path | None]) -> None:
        self.period, self.weights_period = period, weights_period
        self.model, self.last_checkpoint = model, last_checkpoint

    def before_train(self) -> None:
        self._nonfinite: torch.Tensor | None = None

    def after_step(self) -> None:
        loss = self.step_output.loss.detach()
        flag = ~loss.isfinite()
        self._nonfinite = flag if self._nonfinite is None else self._nonfinite | flag
        done, last = self.state.iter + 1, self.state.iter + 1 == self.state.max_iter
        check_weights = done % self.weights_period == 0 or last
        if (done % self.period == 0 or check_weights) and (
                self._nonfinite.item() or (check_weights and not all_finite(self.model))):
            raise nonfinite_error(done, self.last_checkpoint(), "training loss or weights became NaN/Inf")


def nonfinite_error(done: int, last_checkpoint: Path | None, what: str) -> NonFiniteLossError:
    """The error that stops a diverged run: what became non-finite, by which iteration, and the last
    good checkpoint to resume or restart from."""
    return NonFiniteLossError(f"{what} by iteration {done}; stopped. Last good checkpoint: "
                              f"{last_checkpoint or 'none yet'} (lower SOLVER.BASE_LR or add warmup)")


def peak_memory(device: torch.device) -> dict[str, float]:
    """The peak memory of this process so far, in MiB: ``max_mem`` allocated on a CUDA ``device``
    (PyTorch's allocator), or ``max_rss`` of the host process on a CPU."""
    if device.type == "cuda":
        return {"max_mem": torch.cuda.max_memory_allocated(device) / 2**20}
    return {"max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # KiB on Linux


def log_line(done: int, max_iter: int, means: dict[str, float], timing: dict[str, float]) -> str:
    """One training log line: iteration, ETA, the mean loss terms and statistics, lr, time per
    iteration, data time and memory (``timing``: what :meth:`PeriodicWriter._write` measures)."""
    terms = "  ".join(f"{k}: {v:.4g}" for k, v in means.items())
    eta = datetime.timedelta(seconds=round(timing["eta_seconds"]))
    memory = "  ".join(f"{k}: {timing[k]:.0f}M" for k in ("max_mem", "max_rss") if k in timing)
    return (f"iter: {done}/{max_iter}  eta: {eta}  {terms}  lr: {timing['lr']:.4g}  "
            f"time: {timing['time']:.4f}  data_time: {timing['data_time']:.4f}  {memory}")


class PeriodicWriter(HookBase):
    """Every ``period`` iterations and at the last: the mean of each loss term and statistic since
    the previous write, the learning rate, the seconds per iteration and per batch read
    (``time``, ``data_time``), ``eta_seconds`` and peak memory, as one line in the log and one
    event in ``state.events`` (``metrics.json``, TensorBoard). The sums stay on the device between
    writes, so logging costs one host sync per period."""

    def __init__(self, period: int, scheduler: torch.optim.lr_scheduler.LambdaLR) -> None:
        self.period, self.scheduler = period, scheduler

    def before_train(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._steps, self._data_time = 0, 0.0
        self._since = time.perf_counter()

    def after_step(self) -> None:
        out = self.step_output
        with torch.no_grad():
            for key, value in {"loss": out.loss, **out.losses, **out.stats}.items():
                self._sums[key] = self._sums.get(key, 0) + value.detach().float()
        self._steps += 1
        self._data_time += self.state.data_time
        done = self.state.iter + 1
        if done % self.period == 0 or done == self.state.max_iter:
            self._write(done)

    def _write(self, done: int) -> None:
        means = {k: v.item() / self._steps for k, v in self._sums.items()}  # syncs, so the time is real
        now = time.perf_counter()
        seconds = (now - self._since) / self._steps
        timing = {"lr": scheduled_lr(self.scheduler, self.state.iter), "time": seconds,
                  "data_time": self._data_time / self._steps,
                  "eta_seconds": seconds * (self.state.max_iter - done), **peak_memory(self.state.device)}
        self._sums, self._steps, self._data_time, self._since = {}, 0, 0.0, now
        if self.state.events is not None:
            self.state.events.write(done, **means, **timing)
        logger.info("%s", log_line(done, self.state.max_iter, means, timing))


class PeriodicCheckpointer(HookBase):
    """``save("model_<done>", iteration)`` every ``period`` iterations before the last, and
    ``save("model_final", last iteration)`` once training completes; on the main process only.
    After each periodic save, ``prune()`` (if given) deletes the checkpoints no longer kept."""

    def __init__(self, save: Callable[[str, int], Any], period: int, prune: Callable[[], Any] | None = None) -> None:
        self.save, self.period, self.prune = save, period, prune

    def after_step(self) -> None:
        done = self.state.iter + 1
        if done % self.period == 0 and done < self.state.max_iter and is_main_process():
            self.save(f"model_{done:07d}", self.state.iter)
            if self.prune is not None:
                self.prune()

    def after_train(self) -> None:
        if self.state.completed and is_main_process():
            self.save("model_final", self.state.max_iter - 1)


class PreciseBN(HookBase):
    """Batch-norm statistics recomputed with the weights held fixed, as true averages over
    ``num_iter`` training batches (fvcore's ``update_bn_stats``, detectron2's PreciseBN), every
    ``period`` iterations before the last and once training completes: registered before the
    checkpointer and the evaluation, so both see them. Each rank averages its statistics with the
    others', so every rank keeps the same. ``inputs()`` gives fresh batches as the model takes them.
    """

    def __init__(self, period: int, model: nn.Module, inputs: Callable[[], Iterator[torch.Tensor]],
                 num_iter: int) -> None:
        self.period, self.model, self.inputs, self.num_iter = period, model, inputs, num_iter

    def _run(self) -> None:
        recompute_bn_stats(self.model, self.inputs(), self.num_iter)

    def after_step(self) -> None:
        done = self.state.iter + 1
        if self.period and done % self.period == 0 and done < self.state.max_iter:
            self._run()

    def after_train(self) -> None:
        if self.state.completed:
            self._run()


def recompute_bn_stats(model: nn.Module, inputs: Iterator[torch.Tensor], num_iter: int) -> int:
    """Replace the running statistics of ``model``'s training-mode batch norms by their averages
    over ``num_iter`` batches of ``inputs`` (averaged across ranks); return how many layers."""
    # Imported here: fvcore.nn's package import runs torch.jit.script, which warns on every start.
    from fvcore.nn.precise_bn import get_bn_modules, update_bn_stats

    layers = get_bn_modules(model)
    if layers:
        logger.info("recomputing the statistics of %d batch norms over %d training batches", len(layers), num_iter)
        update_bn_stats(model, inputs, num_iter)
        world = get_world_size()
        for bn in layers:
            for stat in (bn.running_mean, bn.running_var):
                stat.copy_(all_reduce_sum(stat.clone()) / world)
    return len(layers)


class EvalHook(HookBase):
    """``evaluate()`` every ``period`` iterations before the last (0: never) and once training
    completes; its results go to ``state.events`` and the last ones stay in ``state.results``."""

    def __init__(self, period: int, evaluate: Callable[[], dict[str, Any]]) -> None:
        self.period, self.evaluate = period, evaluate

    def _run(self, iteration: int) -> None:
        self.state.results = self.evaluate()
        if self.state.events is not None:
            self.state.events.write(iteration, **flatten_results(self.state.results))

    def after_step(self) -> None:
        done = self.state.iter + 1
        if self.period and done % self.period == 0 and done < self.state.max_iter:
            self._run(done)

    def after_train(self) -> None:
        if self.state.completed:
            self._run(self.state.max_iter)
