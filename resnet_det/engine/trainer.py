"""What the classification and detection trainers share: a config-driven, hook-based SGD trainer.

Builder methods make the parts (``build_model``, ``build_train_loader``, ``build_test_loader``,
``build_evaluators``, ``build_hooks``, ``build_step``); a subclass or a user overrides one to change
that part alone. The loop (:class:`~resnet_det.engine.train_loop.TrainerBase`) runs the step
(:mod:`resnet_det.engine.steps`) and the hooks, which share the run's state. Building a trainer
changes no global state: its model is initialised from ``SEED`` on a forked generator, and
``DETERMINISTIC`` holds while it trains; joining a process group is the launcher's
(:func:`resnet_det.engine.launch.setup_process`).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from resnet_det.config import CfgNode, ConfigValueError
from resnet_det.engine import hooks
from resnet_det.engine.checkpoint import Checkpointer
from resnet_det.engine.cuda_graph import GraphedStep, check_graphable, move_lr_to_device
from resnet_det.engine.ema import EMAUpdate, WeightEMA
from resnet_det.engine.events import EventWriter
from resnet_det.engine.hooks import NonFiniteLossError
from resnet_det.engine.lr_scheduler import build_lr_scheduler
from resnet_det.engine.optimizer import build_optimizer
from resnet_det.engine.output_dir import OutputDirLock, check_writable
from resnet_det.engine.steps import SGDStep, gradient_clipper
from resnet_det.engine.train_loop import HookBase, StepOutput, TrainerBase
from resnet_det.evaluation.evaluator import DatasetEvaluator, DatasetEvaluators, inference_on_dataset, summary_lines
from resnet_det.utils.amp import bf16_autocast
from resnet_det.utils.atomic import atomic_write_json
from resnet_det.utils.distributed import broadcast_from_main, get_rank, get_world_size, is_main_process, rank_device
from resnet_det.utils.rng import seeded_global_rng
from resnet_det.weights.files import save_weights
from resnet_det.weights.formats import Weights

logger = logging.getLogger(__name__)
# A run's final (or eval-only) results; metrics.json is the event stream, as in detectron2.
RESULTS_FILE = "results.json"


@contextlib.contextmanager
def deterministic(enabled: bool) -> Iterator[None]:
    """``torch.use_deterministic_algorithms(enabled)`` within the block, restored after it."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(enabled)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


class Trainer(TrainerBase):
    """Trains ``build_model(cfg)`` on ``DATASETS.TRAIN`` for ``SOLVER.MAX_ITER`` iterations and
    evaluates it on ``DATASETS.TEST``.

    A subclass implements :meth:`build_model`, :meth:`build_train_loader`, :meth:`losses`,
    :meth:`build_test_loader`, :meth:`inference`, :meth:`build_evaluators`,
    :meth:`load_initial_weights` and :meth:`checkpoint_meta`; :meth:`build_train_loader` sets
    ``classes``, the training set's class names, which every checkpoint records.
    """

    # Whether every training step has the same shapes and reads nothing back to the host, so that
    # SOLVER.CUDA_GRAPH can capture it.
    static_steps = False

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__()
        self.cfg = cfg
        self.classes: tuple[str, ...] = ()
        self.start_iter = 0
        self.loaded: str | None = None  # the checkpoint a resume loaded
        self.device = self.state.device = rank_device(cfg.MODEL.DEVICE)
        if cfg.SOLVER.CUDA_GRAPH:
            check_graphable(cfg, self.device, self.static_steps, type(self).__name__)
        self.output_dir = Path(cfg.OUTPUT_DIR)
        if is_main_process():
            check_writable(self.output_dir)
        self.channels_last = self.device.type == "cuda"
        with seeded_global_rng(cfg.SEED):  # the initial weights are SEED's, wherever the trainer is built
            self.model = self.build_model(cfg)
        self.train_model: nn.Module = self.model  # wrapped for DDP while training
        self.optimizer = build_optimizer(cfg, self.model)
        self.scheduler = build_lr_scheduler(self.optimizer, cfg)
        self.ema = WeightEMA.from_config(cfg, self.model)
        self.checkpointer = Checkpointer(self.output_dir, self.model, config=cfg.dump(), optimizer=self.optimizer,
                                         scheduler=self.scheduler, **({"ema": self.ema} if self.ema else {}))
        self._train_loader: Any = None
        self.register_hooks(self.build_hooks())

    # ---- parts a subclass builds ------------------------------------------------------------
    def build_model(self, cfg: CfgNode) -> nn.Module:
        """The model, on ``self.device``."""
        raise NotImplementedError

    def build_train_loader(self, cfg: CfgNode) -> Any:
        """The training batch source: an object with ``iterate(start)`` giving the batches of
        iterations ``start, start + 1, ...``."""
        raise NotImplementedError

    def losses(self, batch: Any) -> StepOutput:
        """The loss terms (and statistics) of one training batch, computed with ``self.train_model``."""
        raise NotImplementedError

    def build_test_loader(self, cfg: CfgNode, dataset_name: str) -> Iterable[Any]:
        """A fresh pass over this rank's share of the test set ``dataset_name``."""
        raise NotImplementedError

    def inference(self, batch: Any) -> Any:
        """The model's predictions for one test batch, as the evaluators take them."""
        raise NotImplementedError

    def build_evaluators(self, cfg: CfgNode, dataset_name: str) -> list[DatasetEvaluator]:
        """The evaluators of the test set ``dataset_name`` (chosen by its catalog metadata)."""
        raise NotImplementedError

    def load_initial_weights(self, path: str) -> None:
        raise NotImplementedError

    def checkpoint_meta(self) -> dict[str, Any]:
        """What a checkpoint says about its weights (style, architecture)."""
        raise NotImplementedError

    # ---- shared parts ----------------------------------------------------------------------
    def build_step(self) -> Callable[[Any], StepOutput]:
        """The update of one batch: :class:`SGDStep` over :meth:`losses` with ``SOLVER.CLIP_GRADIENTS``,
        replayed as a CUDA graph with ``SOLVER.CUDA_GRAPH``."""
        step = SGDStep(self.losses, self.optimizer, gradient_clipper(self.cfg, self.model.parameters()))
        if not self.cfg.SOLVER.CUDA_GRAPH:
            return step
        move_lr_to_device(self.optimizer, self.device)  # after a resume, which restores it on the CPU
        return GraphedStep(step)

    def build_hooks(self) -> list[HookBase]:
        """Schedule, NaN guard, the weight average (SOLVER.EMA), checkpoints, evaluation, logs, in this order."""
        cfg = self.cfg
        return [
            hooks.LRScheduler(self.scheduler),
            hooks.NonFiniteGuard(cfg.LOG_PERIOD, cfg.SOLVER.CHECKPOINT_PERIOD, self.model,
                                 self.checkpointer.last_checkpoint),
            *([EMAUpdate(self.ema)] if self.ema else []),
            hooks.PeriodicCheckpointer(self.save_checkpoint, cfg.SOLVER.CHECKPOINT_PERIOD,
                                       functools.partial(self.checkpointer.remove_old_periodic,
                                                         cfg.SOLVER.CHECKPOINT_KEEP)),
            hooks.EvalHook(cfg.TEST.EVAL_PERIOD, self.test),
            hooks.PeriodicWriter(cfg.LOG_PERIOD, self.scheduler),
        ]

    @property
    def train_loader(self) -> Any:
        """:meth:`build_train_loader`, built on first use (evaluation alone needs no training data)."""
        if self._train_loader is None:
            self._train_loader = self.build_train_loader(self.cfg)
        return self._train_loader

    def iterate_batches(self, start: int) -> Iterator[Any]:
        """Training batches for iterations ``start, start + 1, ...``."""
        return self.train_loader.iterate(start)

    def compile(self, module: nn.Module, dynamic: bool | None = None) -> None:
        """``torch.compile`` ``module`` in place (its parameter names stay) when MODEL.COMPILE.ENABLED."""
        opts = self.cfg.MODEL.COMPILE
        if opts.ENABLED:
            module.compile(mode=None if opts.MODE == "default" else opts.MODE, backend=opts.BACKEND, dynamic=dynamic)

    @property
    def autocast(self):
        return bf16_autocast(self.device.type, self.cfg.SOLVER.AMP.ENABLED)

    def load(self, resume: bool) -> str | None:
        """Resume from ``OUTPUT_DIR``'s last checkpoint when asked and present, else load MODEL.WEIGHTS;
        return what was loaded (None: nothing, the model keeps its random initialisation)."""
        ckpt = self.checkpointer.resume() if resume else None
        if ckpt is not None:
            self.start_iter = int(ckpt["iteration"]) + 1
            self.loaded = str(self.checkpointer.resumed_from)
            return self.loaded
        if resume:
            logger.info("no checkpoint in %s to resume from: starting from %s", self.output_dir,
                        self.cfg.MODEL.WEIGHTS or "random initialisation")
        if self.cfg.MODEL.WEIGHTS:
            self.load_initial_weights(self.cfg.MODEL.WEIGHTS)
            return self.cfg.MODEL.WEIGHTS
        return None

    def check_datasets(self) -> None:
        """Resolve the training set and every test set now, so that a missing or misnamed one, or one
        with another number of classes, stops the run before its first iteration, not at its first
        evaluation."""
        self.train_loader  # noqa: B018 - built, and so checked, on first use
        for name in self.cfg.DATASETS.TEST:
            self.build_evaluators(self.cfg, name)

    def _write_config(self) -> None:
        if is_main_process():
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "config.yaml").write_text(self.cfg.dump())

    def evaluate(self, weights: str | None) -> dict[str, Any]:
        """:meth:`test` of the loaded ``weights`` (what :meth:`load` returned), with the config and
        ``{"weights", "iterations", "results"}`` written to ``OUTPUT_DIR/results.json`` as a training
        run writes its own."""
        if weights is None:
            raise ConfigValueError("evaluation needs weights: set MODEL.WEIGHTS (a file, an http(s):// URL, "
                             "detectron2://... or torchvision://...) or --resume from a checkpoint in OUTPUT_DIR")
        self._write_config()
        results = {"weights": weights, "iterations": self.start_iter, "results": self.test()}
        if is_main_process():
            atomic_write_json(self.output_dir / RESULTS_FILE, results, indent=2)
        return results

    def save_checkpoint(self, name: str, iteration: int) -> Path:
        """``OUTPUT_DIR/<name>.pth`` with the weights, optimizer, schedule, config and ``iteration``."""
        meta = {**self.checkpoint_meta(), "classes": list(self.classes)}
        return self.checkpointer.save(name, meta=meta, iteration=iteration, config=self.cfg.dump())

    def run_step(self) -> None:
        start = time.perf_counter()
        batch = next(self._batches)
        self.state.data_time = time.perf_counter() - start  # the wait for the loader, read by PeriodicWriter
        # In-model randomness (RoI and anchor sampling) is a function of the iteration too, so a
        # resumed run draws what the uninterrupted one drew.
        torch.manual_seed(self.cfg.SEED * 1_000_003 + self.state.iter * 7919 + get_rank())
        try:
            self.state.step_output = self._step(batch)
        except NonFiniteLossError:
            raise
        except FloatingPointError as e:  # raised inside the model (the RPN's proposals), before any loss
            raise hooks.nonfinite_error(self.state.iter + 1, self.checkpointer.last_checkpoint(), str(e)) from None

    def train(self) -> dict[str, Any]:  # type: ignore[override]
        """Run from ``start_iter`` to ``SOLVER.MAX_ITER``; return the final results (``results.json``).

        A run resumed at or past ``SOLVER.MAX_ITER`` has nothing to train: its checkpoint is evaluated,
        and no checkpoint is written (none could be of a later iteration). The main process holds
        ``OUTPUT_DIR`` (:class:`~resnet_det.engine.output_dir.OutputDirLock`) while it trains."""
        with OutputDirLock(self.output_dir) if is_main_process() else contextlib.nullcontext():
            if self.start_iter < self.cfg.SOLVER.MAX_ITER:
                return self._train()
            logger.info("%s has trained %d iterations, SOLVER.MAX_ITER %d or more: nothing to train, evaluating it "
                        "(results.json and the checkpoints are left as they are)", self.loaded, self.start_iter,
                        self.cfg.SOLVER.MAX_ITER)
            return {"weights": self.loaded, "iterations": self.start_iter, "results": self.test()}

    def _train(self) -> dict[str, Any]:
        self._write_config()
        self.check_datasets()
        self._step = self.build_step()
        if get_world_size() > 1:
            self.train_model = DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
        self._batches = iter(self.iterate_batches(self.start_iter))
        self.state.events = EventWriter(self.output_dir)
        self.model.train()
        logger.info("training from iteration %d to %d, checkpoints and logs in %s", self.start_iter,
                    self.cfg.SOLVER.MAX_ITER, self.output_dir)
        started = time.perf_counter()
        try:
            with deterministic(self.cfg.DETERMINISTIC):
                super().train(self.start_iter, self.cfg.SOLVER.MAX_ITER)
        finally:
            self.state.events.close()
            self.state.events = None
            self.train_model = self.model
        if self.ema is not None and is_main_process():
            self._save_average(self.ema)
        return self._final_results(time.perf_counter() - started)

    def _save_average(self, ema: WeightEMA) -> None:
        """``OUTPUT_DIR/model_final_ema.pth``: the averaged weights as a weights file (MODEL.WEIGHTS of a
        detector or another run, the Predictor); resuming reads the average from the checkpoints."""
        meta = self.checkpoint_meta()
        path = save_weights(Weights(ema.average.module.state_dict(), meta["weight_style"], meta["arch"],
                                    classes=self.classes), self.output_dir / "model_final_ema.pth")
        logger.info("saved the weight average in %s", path)

    def _final_results(self, wall_time: float) -> dict[str, Any]:
        """``{"iterations", "wall_time_s", "results"}`` of a completed run, also written to
        ``OUTPUT_DIR/results.json`` (main process, atomically)."""
        final = {"iterations": self.cfg.SOLVER.MAX_ITER, "wall_time_s": wall_time, "results": self.state.results}
        if is_main_process():
            atomic_write_json(self.output_dir / RESULTS_FILE, final, indent=2)
        return final

    def test(self) -> dict[str, Any]:
        """``{test set: {task: {metric: value}}}`` for every ``DATASETS.TEST`` set, on every rank; with
        a weight average that has averaged anything, its results too, as ``"<test set>/ema"``."""
        self.model.eval()
        try:
            results = self._test_sets("")
            if self.ema is not None and self.ema.average.n_averaged.item() > 0:
                with self.ema.swapped_in():
                    results.update(self._test_sets("/ema"))
        finally:
            self.model.train()
        results = broadcast_from_main(results)
        for line in summary_lines(results):
            logger.info("%s", line)
        return results

    def _test_sets(self, suffix: str) -> dict[str, Any]:
        return {name + suffix: inference_on_dataset(self.inference, self.build_test_loader(self.cfg, name),
                                                    DatasetEvaluators(self.build_evaluators(self.cfg, name)),
                                                    desc=f"evaluating {name}{suffix}")
                for name in self.cfg.DATASETS.TEST}
