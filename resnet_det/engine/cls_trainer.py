"""The classification trainer (CIFAR-10, ImageNet, built-in shapes) behind ``tools/train_cls.py``."""
from __future__ import annotations

import logging
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.data.classification import build_eval_batches, build_train_batches, load_classification_dataset
from resnet_det.data.cls_transforms import pca_lighting
from resnet_det.engine.distributed import get_rank, get_world_size
from resnet_det.engine.trainer import NonFiniteLossError, Trainer
from resnet_det.evaluation.classification import evaluate_views, topk_correct
from resnet_det.modeling import build_model
from resnet_det.modeling.preprocess import Normalize
from resnet_det.weights import get_weight_style, load_state_dict_checked, load_weights

logger = logging.getLogger(__name__)
__all__ = ["ClassificationTrainer", "NonFiniteLossError", "build_classifier"]


def build_classifier(cfg: CfgNode) -> nn.Module:
    """The registered model ``MODEL.ARCH`` with the config's classifier size and ResNet options."""
    kwargs: dict[str, Any] = {"num_classes": cfg.MODEL.NUM_CLASSES, "norm": cfg.MODEL.RESNETS.NORM,
                              "zero_init_last": cfg.MODEL.RESNETS.ZERO_INIT_LAST}
    if cfg.MODEL.RESNETS.SHORTCUT:
        kwargs["shortcut"] = cfg.MODEL.RESNETS.SHORTCUT
    if not cfg.MODEL.ARCH.startswith("cifar_"):
        kwargs["stride_in_1x1"] = get_weight_style(cfg.MODEL.WEIGHT_STYLE).stride_in_1x1
    return build_model(cfg.MODEL.ARCH, **kwargs)


class ClassificationTrainer(Trainer):
    """Cross-entropy training of a classifier; top-1/top-5 error on the test sets."""

    static_steps = True

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__(cfg)
        rank, world = get_rank(), get_world_size()
        self.test_batches = {name: build_eval_batches(cfg, load_classification_dataset(name, cfg.DATASETS.ROOT),
                                                      self.device, rank, world)
                             for name in cfg.DATASETS.TEST}
        self.normalize = Normalize(cfg.MODEL.WEIGHT_STYLE).to(self.device)
        self.model = build_classifier(cfg).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.compile(self.model)
        self._setup_optimizer()
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

    def load_initial_weights(self, path: str) -> None:
        report = load_state_dict_checked(self.model, load_weights(path).state_dict, strict=False, source=path)
        logger.info("loaded %s: %s", path, report)

    def meta(self) -> dict[str, Any]:
        return {"weight_style": self.cfg.MODEL.WEIGHT_STYLE, "arch": self.cfg.MODEL.ARCH}

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalize(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast:
            return self.model(x)["linear"]

    def iterate_batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = self.batches.iterate(start)
        if not self.cfg.INPUT.COLOR_AUG:
            return batches
        # The noise is drawn on the host for each iteration, so it comes with the batch: the step
        # itself must not depend on the iteration for SOLVER.CUDA_GRAPH to replay it.
        stream = self.batches.stream
        return ((pca_lighting(images.float(), self.cfg.INPUT.COLOR_AUG, stream.torch_generator(it), stream.local_slots),
                 labels) for it, (images, labels) in enumerate(batches, start))

    def losses(self, batch):
        images, labels = batch
        logits = self.predict(images)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.cfg.SOLVER.LABEL_SMOOTHING)
        with torch.no_grad():
            error = 100 * (1 - topk_correct(logits, labels, (1,))[0].float() / len(labels))
        return {"loss_cls": loss}, {"train_top1_error": error}

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Top-1/top-5 error on every test set (views as TEST.MODE says)."""
        self.model.eval()
        try:
            return {name: evaluate_views(self.predict, batches(), self.device)
                    for name, batches in self.test_batches.items()}
        finally:
            self.model.train()

    def final_metrics(self, results: dict[str, Any], wall_time: float) -> dict[str, Any]:
        first = next(iter(results.values()), {})
        return {"top1_error": first.get("top1_error"), "top5_error": first.get("top5_error"),
                "iterations": self.cfg.SOLVER.MAX_ITER, "wall_time_s": wall_time, "datasets": results}
