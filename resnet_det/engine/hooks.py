"""The hooks every training run registers (see :meth:`resnet_det.engine.trainer.Trainer.build_hooks`).

Each is one concern of a run; they run in registration order, which matters: the NaN guard
checks before the checkpointer saves, and the final checkpoint is written before the final
evaluation.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from tqdm import tqdm

from resnet_det.engine.lr_scheduler import scheduled_lr
from resnet_det.engine.train_loop import HookBase
from resnet_det.evaluation.evaluator import flatten_results
from resnet_det.utils.atomic import atomic_write_json
from resnet_det.utils.distributed import is_main_process

if TYPE_CHECKING:
    from resnet_det.engine.trainer import Trainer


class NonFiniteLossError(FloatingPointError):
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
        loss = self.trainer.step_output.loss.detach()
        flag = ~loss.isfinite()
        self._nonfinite = flag if self._nonfinite is None else self._nonfinite | flag
        done, last = self.trainer.iter + 1, self.trainer.iter + 1 == self.trainer.max_iter
        check_weights = done % self.weights_period == 0 or last
        if (done % self.period == 0 or check_weights) and (
                self._nonfinite.item() or (check_weights and not all_finite(self.model))):
            raise NonFiniteLossError(
                f"training loss or weights became NaN/Inf by iteration {done}; stopped. Last good checkpoint: "
                f"{self.last_checkpoint() or 'none yet'} (lower SOLVER.BASE_LR or add warmup)")


class PeriodicWriter(HookBase):
    """Every ``period`` iterations and at the last: the mean of each loss term and statistic since
    the previous write and the learning rate, to ``trainer.events`` (``metrics.jsonl``, TensorBoard)
    and the progress bar. The sums stay on the device between writes."""

    trainer: Trainer

    def __init__(self, period: int, scheduler: torch.optim.lr_scheduler.LambdaLR) -> None:
        self.period, self.scheduler = period, scheduler

    def before_train(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._steps = 0
        self._bar = tqdm(total=self.trainer.max_iter, initial=self.trainer.start_iter, desc="train",
                         disable=not is_main_process(), dynamic_ncols=True)

    def after_step(self) -> None:
        out = self.trainer.step_output
        with torch.no_grad():
            for key, value in {"loss": out.loss, **out.losses, **out.stats}.items():
                self._sums[key] = self._sums.get(key, 0) + value.detach().float()
        self._steps += 1
        self._bar.update(1)
        done = self.trainer.iter + 1
        if done % self.period == 0 or done == self.trainer.max_iter:
            record = {k: v.item() / self._steps for k, v in self._sums.items()}
            record["lr"] = scheduled_lr(self.scheduler, self.trainer.iter)
            self._sums, self._steps = {}, 0
            self.trainer.events.write(done, **record)
            self._bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.4g}")
        if done == self.trainer.max_iter:
            self._bar.close()

    def after_train(self) -> None:
        self._bar.close()


class PeriodicCheckpointer(HookBase):
    """``save("model_<done>", iteration)`` every ``period`` iterations before the last, and
    ``save("model_final", last iteration)`` once training completes; on the main process only."""

    def __init__(self, save: Callable[[str, int], Any], period: int) -> None:
        self.save, self.period = save, period

    def after_step(self) -> None:
        done = self.trainer.iter + 1
        if done % self.period == 0 and done < self.trainer.max_iter and is_main_process():
            self.save(f"model_{done:07d}", self.trainer.iter)

    def after_train(self) -> None:
        if self.trainer.completed and is_main_process():
            self.save("model_final", self.trainer.max_iter - 1)


class EvalHook(HookBase):
    """``evaluate()`` every ``period`` iterations before the last (0: never) and once training
    completes; its results go to ``trainer.events`` and the last ones stay in ``trainer.results``."""

    trainer: Trainer

    def __init__(self, period: int, evaluate: Callable[[], dict[str, Any]]) -> None:
        self.period, self.evaluate = period, evaluate

    def _run(self, iteration: int) -> None:
        self.trainer.results = self.evaluate()
        self.trainer.events.write(iteration, **flatten_results(self.trainer.results))

    def after_step(self) -> None:
        done = self.trainer.iter + 1
        if self.period and done % self.period == 0 and done < self.trainer.max_iter:
            self._run(done)

    def after_train(self) -> None:
        if self.trainer.completed:
            self._run(self.trainer.max_iter)


class FinalResults(HookBase):
    """Once training completes: ``trainer.final_results`` (every rank) and ``output_dir/metrics.json``
    (main process, atomically): ``{"iterations", "wall_time_s", "results": {test set: {task: metrics}}}``."""

    trainer: Trainer

    def __init__(self, output_dir: str | Path) -> None:
        self.output_dir = Path(output_dir)

    def before_train(self) -> None:
        self._start = time.perf_counter()

    def after_train(self) -> None:
        if not self.trainer.completed:
            return
        self.trainer.final_results = {"iterations": self.trainer.max_iter,
                                      "wall_time_s": time.perf_counter() - self._start,
                                      "results": self.trainer.results}
        if is_main_process():
            atomic_write_json(self.output_dir / "metrics.json", self.trainer.final_results, indent=2)
