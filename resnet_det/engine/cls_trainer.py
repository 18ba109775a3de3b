"""The classification training loop (CIFAR-10, built-in shapes) behind ``tools/train_cls.py``."""
from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from resnet_det.config import CfgNode
from resnet_det.data.classification import build_eval_batches, build_train_batches, load_classification_dataset
from resnet_det.data.cls_transforms import pca_lighting
from resnet_det.engine.checkpoint import Checkpointer
from resnet_det.engine.distributed import get_rank, get_world_size, init_distributed, is_main_process
from resnet_det.engine.events import EventWriter
from resnet_det.engine.lr_scheduler import build_lr_scheduler
from resnet_det.evaluation.classification import evaluate_views, topk_correct
from resnet_det.modeling import build_model
from resnet_det.modeling.preprocess import Normalize
from resnet_det.utils.atomic import atomic_write
from resnet_det.weights import get_weight_style, load_state_dict_checked, load_weights

logger = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def build_classifier(cfg: CfgNode) -> nn.Module:
    """The registered model ``MODEL.ARCH`` with the config's classifier size and ResNet options."""
    kwargs: dict[str, Any] = {"num_classes": cfg.MODEL.NUM_CLASSES, "norm": cfg.MODEL.RESNETS.NORM,
                              "zero_init_last": cfg.MODEL.RESNETS.ZERO_INIT_LAST}
    if cfg.MODEL.RESNETS.SHORTCUT:
        kwargs["shortcut"] = cfg.MODEL.RESNETS.SHORTCUT
    if not cfg.MODEL.ARCH.startswith("cifar_"):
        kwargs["stride_in_1x1"] = get_weight_style(cfg.MODEL.WEIGHT_STYLE).stride_in_1x1
    return build_model(cfg.MODEL.ARCH, **kwargs)


def _all_finite(model: nn.Module) -> bool:
    """Parameters and buffers (batch-norm statistics overflow too) are all finite."""
    return all(bool(t.isfinite().all()) for t in model.state_dict().values() if t.is_floating_point())


class ClassificationTrainer:
    """SGD training of a classifier on an in-memory dataset, with exact resume and evaluation."""

    def __init__(self, cfg: CfgNode) -> None:
        self.cfg = cfg
        self.device = init_distributed(cfg.MODEL.DEVICE)
        self.output_dir = Path(cfg.OUTPUT_DIR)
        torch.manual_seed(cfg.SEED)
        if cfg.DETERMINISTIC:
            torch.use_deterministic_algorithms(True)
        self.channels_last = self.device.type == "cuda"
        self.autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16) if cfg.SOLVER.AMP.ENABLED
                         else contextlib.nullcontext())

        rank, world = get_rank(), get_world_size()
        self.test_batches = {name: build_eval_batches(cfg, load_classification_dataset(name, cfg.DATASETS.ROOT),
                                                      self.device, rank, world)
                             for name in cfg.DATASETS.TEST}

        self.normalize = Normalize(cfg.MODEL.WEIGHT_STYLE).to(self.device)
        model = build_classifier(cfg).to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        lr = cfg.SOLVER.BASE_LR
        if cfg.SOLVER.BASE_LR_REFERENCE_BATCH:
            lr *= cfg.SOLVER.IMS_PER_BATCH / cfg.SOLVER.BASE_LR_REFERENCE_BATCH
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.SOLVER.MOMENTUM,
                                         weight_decay=cfg.SOLVER.WEIGHT_DECAY, nesterov=cfg.SOLVER.NESTEROV)
        self.scheduler = build_lr_scheduler(self.optimizer, cfg.SOLVER)
        self.checkpointer = Checkpointer(self.output_dir, model, optimizer=self.optimizer,
                                         scheduler=self.scheduler)
        self.model = model
        self.start_iter = 0
        self._batches = None

    @property
    def batches(self):
        """The training batch source, loaded on first use (evaluation alone needs no training data)."""
        if self._batches is None:
            cfg = self.cfg
            if len(cfg.DATASETS.TRAIN) != 1:
                raise ValueError(f"classification trains on exactly one dataset; DATASETS.TRAIN is {cfg.DATASETS.TRAIN}")
            train = load_classification_dataset(cfg.DATASETS.TRAIN[0], cfg.DATASETS.ROOT)
            if len(train.classes) != cfg.MODEL.NUM_CLASSES:
                raise ValueError(f"{cfg.DATASETS.TRAIN[0]} has {len(train.classes)} classes but "
                                 f"MODEL.NUM_CLASSES is {cfg.MODEL.NUM_CLASSES}")
            self._batches = build_train_batches(cfg, train, self.device, get_rank(), get_world_size())
        return self._batches

    def load(self, resume: bool) -> None:
        """Resume from ``OUTPUT_DIR``'s last checkpoint when asked and present, else load MODEL.WEIGHTS."""
        ckpt = self.checkpointer.resume() if resume else None
        if ckpt is not None:
            self.start_iter = int(ckpt["iteration"]) + 1
        elif self.cfg.MODEL.WEIGHTS:
            weights = load_weights(self.cfg.MODEL.WEIGHTS)
            report = load_state_dict_checked(self.model, weights.state_dict, strict=False,
                                             source=self.cfg.MODEL.WEIGHTS)
            logger.info("loaded %s: %s", self.cfg.MODEL.WEIGHTS, report)

    def _meta(self) -> dict[str, Any]:
        return {"weight_style": self.cfg.MODEL.WEIGHT_STYLE, "arch": self.cfg.MODEL.ARCH}

    def _save(self, name: str, iteration: int) -> None:
        if is_main_process():
            self.checkpointer.save(name, meta=self._meta(), iteration=iteration, config=self.cfg.dump())

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalize(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast:
            return self.model(x)["linear"]

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Top-1/top-5 error on every test set (views as TEST.MODE says)."""
        self.model.eval()
        try:
            return {name: evaluate_views(self.predict, batches(), self.device)
                    for name, batches in self.test_batches.items()}
        finally:
            self.model.train()

    def train(self) -> dict[str, Any]:
        """Run from ``start_iter`` to ``SOLVER.MAX_ITER``; write and return the final metrics."""
        cfg, max_iter = self.cfg, self.cfg.SOLVER.MAX_ITER
        if is_main_process():
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "config.yaml").write_text(cfg.dump())
        module = self.model
        if get_world_size() > 1:
            self.model = DistributedDataParallel(module, device_ids=[self.device] if self.device.type == "cuda" else None)
        events = EventWriter(self.output_dir)
        nonfinite = torch.zeros((), dtype=torch.bool, device=self.device)
        stats = torch.zeros(3, device=self.device)  # loss sum, top-1 correct, samples since last log
        start = time.perf_counter()
        self.model.train()
        bar = tqdm(range(self.start_iter, max_iter), initial=self.start_iter, total=max_iter,
                   disable=not is_main_process(), desc="train", dynamic_ncols=True)
        for it, (images, labels) in zip(bar, self.batches.iterate(self.start_iter)):
            if cfg.INPUT.COLOR_AUG:
                stream = self.batches.stream
                images = pca_lighting(images.float(), cfg.INPUT.COLOR_AUG, stream.torch_generator(it),
                                      stream.local_slots)
            logits = self.predict(images)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=cfg.SOLVER.LABEL_SMOOTHING)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            with torch.no_grad():
                nonfinite |= ~loss.isfinite()
                stats += torch.stack([loss.detach() * len(labels), topk_correct(logits, labels, (1,))[0],
                                      torch.tensor(len(labels), device=self.device)])
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
                loss_sum, correct, n = stats.tolist()
                stats.zero_()
                record = {"loss": loss_sum / n, "train_top1_error": 100 * (1 - correct / n),
                          "lr": self.optimizer.param_groups[0]["lr"]}
                events.write(done, **record)
                bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.4g}")
            if checkpoint_due:
                self._save(f"model_{done:07d}", it)
            if cfg.TEST.EVAL_PERIOD and done % cfg.TEST.EVAL_PERIOD == 0 and done < max_iter:
                for name, result in self.evaluate().items():
                    events.write(done, **{f"{name}/{k}": v for k, v in result.items()})
        bar.close()
        self.model = module
        self._save("model_final", max_iter - 1)
        results = self.evaluate()
        for name, result in results.items():
            events.write(max_iter, **{f"{name}/{k}": v for k, v in result.items()})
        events.close()
        first = next(iter(results.values()), {})
        metrics = {"top1_error": first.get("top1_error"), "top5_error": first.get("top5_error"),
                   "iterations": max_iter, "wall_time_s": time.perf_counter() - start,
                   "datasets": results}
        if is_main_process():
            atomic_write(self.output_dir / "metrics.json", lambda f: f.write(json.dumps(metrics, indent=2).encode()))
        return metrics
