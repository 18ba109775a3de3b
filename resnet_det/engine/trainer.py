"""The training loop shared by the classification and detection trainers.

A subclass supplies the model, the batch source, the per-batch losses and the evaluation; this
class owns the rest: SGD with warmup and decay, bf16 autocast, DDP or CUDA-graph replay of the step,
atomic checkpoints with exact resume, the NaN/Inf guard, JSON-lines/TensorBoard logging, progress
and ``metrics.json``.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from resnet_det.config import CfgNode
from resnet_det.engine.checkpoint import Checkpointer
from resnet_det.engine.cuda_graph import GraphedStep, move_lr_to_device
from resnet_det.engine.distributed import get_rank, get_world_size, init_distributed, is_main_process
from resnet_det.engine.events import EventWriter
from resnet_det.engine.lr_scheduler import build_lr_scheduler
from resnet_det.utils.amp import bf16_autocast
from resnet_det.utils.atomic import atomic_write

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The training loss (or the weights) became NaN or infinite."""


def _all_finite(model: nn.Module) -> bool:
    """Parameters and buffers (batch-norm statistics overflow too) are all finite."""
    return all(bool(t.isfinite().all()) for t in model.state_dict().values() if t.is_floating_point())


class Trainer:
    """Subclasses set ``self.model`` (on ``self.device``) in ``__init__`` after calling ``super().__init__``,
    then call :meth:`_setup_optimizer`, and implement the methods that raise NotImplementedError."""

    # Whether every training step has the same shapes and reads nothing back to the host, so that
    # SOLVER.CUDA_GRAPH can capture it.
    static_steps = False

    def __init__(self, cfg: CfgNode) -> None:
        self.cfg = cfg
        self.device = init_distributed(cfg.MODEL.DEVICE)
        if cfg.SOLVER.CUDA_GRAPH:
            self._check_graphable()
        self.output_dir = Path(cfg.OUTPUT_DIR)
        torch.manual_seed(cfg.SEED)
        if cfg.DETERMINISTIC:
            torch.use_deterministic_algorithms(True)
        self.channels_last = self.device.type == "cuda"
        self.start_iter = 0
        self.model: nn.Module

    # ---- to implement -----------------------------------------------------------------------
    def iterate_batches(self, start: int) -> Iterator[Any]:
        """Training batches for iterations ``start, start + 1, ...``."""
        raise NotImplementedError

    def losses(self, batch: Any) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``(losses to sum and minimise, detached statistics to log as window means)``."""
        raise NotImplementedError

    def evaluate(self) -> dict[str, Any]:
        """Metrics per test set."""
        raise NotImplementedError

    def load_initial_weights(self, path: str) -> None:
        raise NotImplementedError

    def final_metrics(self, results: dict[str, Any], wall_time: float) -> dict[str, Any]:
        """What ``metrics.json`` holds."""
        raise NotImplementedError

    def meta(self) -> dict[str, Any]:
        """Checkpoint metadata (weight style, architecture)."""
        raise NotImplementedError

    # ---- shared -----------------------------------------------------------------------------
    def _check_graphable(self) -> None:
        reasons = [why for broken, why in [
            (not self.static_steps, f"{type(self).__name__}'s steps change shape from batch to batch"),
            (self.device.type != "cuda", f"it needs a CUDA device, not {self.device}"),
            (get_world_size() > 1, "it runs in one process only (no DDP)"),
            (self.cfg.MODEL.COMPILE.ENABLED and self.cfg.MODEL.COMPILE.MODE == "reduce-overhead",
             "MODEL.COMPILE.MODE reduce-overhead captures graphs of its own; use default or max-autotune"),
        ] if broken]
        if reasons:
            raise ValueError(f"SOLVER.CUDA_GRAPH cannot be used here: {'; '.join(reasons)}")

    def _setup_optimizer(self) -> None:
        cfg = self.cfg
        lr = cfg.SOLVER.BASE_LR
        if cfg.SOLVER.BASE_LR_REFERENCE_BATCH:
            lr *= cfg.SOLVER.IMS_PER_BATCH / cfg.SOLVER.BASE_LR_REFERENCE_BATCH
        params = [p for p in self.model.parameters() if p.requires_grad]
        # The fused kernel reads a tensor learning rate on the device; the foreach one reads it back.
        self.optimizer = torch.optim.SGD(params, lr=lr, momentum=cfg.SOLVER.MOMENTUM,
                                         weight_decay=cfg.SOLVER.WEIGHT_DECAY, nesterov=cfg.SOLVER.NESTEROV,
                                         fused=True if cfg.SOLVER.CUDA_GRAPH else None)
        self.scheduler = build_lr_scheduler(self.optimizer, cfg.SOLVER)
        self.checkpointer = Checkpointer(self.output_dir, self.model, optimizer=self.optimizer,
                                         scheduler=self.scheduler)

    def _clip_gradients(self) -> None:
        clip = self.cfg.SOLVER.CLIP_GRADIENTS
        if not clip.ENABLED:
            return
        params = [p for p in self.model.parameters() if p.grad is not None]
        if clip.CLIP_TYPE == "norm":
            torch.nn.utils.clip_grad_norm_(params, clip.CLIP_VALUE)
        elif clip.CLIP_TYPE == "value":
            torch.nn.utils.clip_grad_value_(params, clip.CLIP_VALUE)
        else:
            raise ValueError(f"SOLVER.CLIP_GRADIENTS.CLIP_TYPE must be norm or value, got {clip.CLIP_TYPE!r}")

    def compile(self, module: nn.Module, dynamic: bool | None = None) -> None:
        """``torch.compile`` ``module`` in place (its parameter names stay) when MODEL.COMPILE.ENABLED."""
        opts = self.cfg.MODEL.COMPILE
        if opts.ENABLED:
            module.compile(mode=None if opts.MODE == "default" else opts.MODE, backend=opts.BACKEND, dynamic=dynamic)

    @property
    def autocast(self):
        return bf16_autocast(self.device.type, self.cfg.SOLVER.AMP.ENABLED)

    def load(self, resume: bool) -> None:
        """Resume from ``OUTPUT_DIR``'s last checkpoint when asked and present, else load MODEL.WEIGHTS."""
        ckpt = self.checkpointer.resume() if resume else None
        if ckpt is not None:
            self.start_iter = int(ckpt["iteration"]) + 1
        elif self.cfg.MODEL.WEIGHTS:
            self.load_initial_weights(self.cfg.MODEL.WEIGHTS)

    def _save(self, name: str, iteration: int) -> None:
        if is_main_process():
            self.checkpointer.save(name, meta=self.meta(), iteration=iteration, config=self.cfg.dump())

    def _step(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """One update from ``batch``: ``(loss, losses, stats)``."""
        losses, stats = self.losses(batch)
        loss = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._clip_gradients()
        self.optimizer.step()
        return loss, losses, stats

    def _log_results(self, events: EventWriter, iteration: int, results: dict[str, Any]) -> None:
        flat = {}
        for name, result in results.items():
            for key, value in result.items():
                if isinstance(value, dict):
                    flat.update({f"{name}/{key}/{k}": v for k, v in value.items() if isinstance(v, (int, float))})
                else:
                    flat[f"{name}/{key}"] = value
        events.write(iteration, **flat)

    def train(self) -> dict[str, Any]:
        """Run from ``start_iter`` to ``SOLVER.MAX_ITER``; write and return the final metrics."""
        cfg, max_iter = self.cfg, self.cfg.SOLVER.MAX_ITER
        if is_main_process():
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "config.yaml").write_text(cfg.dump())
        module = self.model
        step = self._step
        if cfg.SOLVER.CUDA_GRAPH:
            move_lr_to_device(self.optimizer, self.device)  # after a resume, which restores it on the CPU
            step = GraphedStep(self._step)
        if get_world_size() > 1:
            self.model = DistributedDataParallel(module, device_ids=[self.device] if self.device.type == "cuda" else None)
        events = EventWriter(self.output_dir)
        nonfinite = torch.zeros((), dtype=torch.bool, device=self.device)
        window: dict[str, torch.Tensor] = {}
        window_steps = 0
        start = time.perf_counter()
        self.model.train()
        bar = tqdm(range(self.start_iter, max_iter), initial=self.start_iter, total=max_iter,
                   disable=not is_main_process(), desc="train", dynamic_ncols=True)
        for it, batch in zip(bar, self.iterate_batches(self.start_iter)):
            # In-model randomness (RoI and anchor sampling) is a function of the iteration too, so a
            # resumed run draws what the uninterrupted one drew.
            torch.manual_seed(cfg.SEED * 1_000_003 + it * 7919 + get_rank())
            loss, losses, stats = step(batch)
            self.scheduler.step()
            with torch.no_grad():
                nonfinite |= ~loss.isfinite()
                for key, value in {"loss": loss, **losses, **stats}.items():
                    window[key] = window.get(key, 0) + value.detach().float()
            window_steps += 1
            done = it + 1
            checkpoint_due = done % cfg.SOLVER.CHECKPOINT_PERIOD == 0 and done < max_iter
            if done % cfg.LOG_PERIOD == 0 or checkpoint_due or done == max_iter:
                # A finite loss can still come with a step that overflowed the weights, so a
                # checkpoint is only written over weights that are finite too.
                if nonfinite.item() or (checkpoint_due and not _all_finite(self.model)):
                    last = self.checkpointer.last_checkpoint()
                    raise NonFiniteLossError(
                        f"training loss or weights became NaN/Inf by iteration {done}; stopped. Last good "
                        f"checkpoint: {last or 'none yet'} (lower SOLVER.BASE_LR or add warmup)")
                record = {k: v.item() / window_steps for k, v in window.items()}
                record["lr"] = float(self.optimizer.param_groups[0]["lr"])
                window, window_steps = {}, 0
                events.write(done, **record)
                bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.4g}")
            if checkpoint_due:
                self._save(f"model_{done:07d}", it)
            if cfg.TEST.EVAL_PERIOD and done % cfg.TEST.EVAL_PERIOD == 0 and done < max_iter:
                self._log_results(events, done, self.evaluate())
                self.model.train()
        bar.close()
        self.model = module
        self._save("model_final", max_iter - 1)
        results = self.evaluate()
        self._log_results(events, max_iter, results)
        events.close()
        metrics = self.final_metrics(results, time.perf_counter() - start)
        if is_main_process():
            atomic_write(self.output_dir / "metrics.json", lambda f: f.write(json.dumps(metrics, indent=2).encode()))
        return metrics
