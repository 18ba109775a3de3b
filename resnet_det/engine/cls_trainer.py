"""The classification trainer (CIFAR-10, ImageNet, built-in shapes) behind ``tools/train_cls.py``."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from resnet_det.config import CfgNode, ConfigValueError
from resnet_det.data.datasets.catalog import dataset_metadata
from resnet_det.data.datasets.classification import ArrayDataset, FileDataset, load_classification_dataset
from resnet_det.data.loaders.batches import ImageBatch, ViewBatch
from resnet_det.data.loaders.classification import build_eval_batches, build_train_batches
from resnet_det.data.loaders.cls_transforms import pca_lighting
from resnet_det.data.loaders.crop_schedule import CropSchedule
from resnet_det.data.loaders.mixing import BatchMixing, mixing_seed
from resnet_det.data.loaders.sample_augment import SampleAugment
from resnet_det.engine import hooks
from resnet_det.engine.train_loop import HookBase, StepOutput
from resnet_det.engine.trainer import Trainer
from resnet_det.evaluation.classification import ClassificationEvaluator, topk_correct
from resnet_det.evaluation.evaluator import DatasetEvaluator
from resnet_det.modeling.preprocess import Normalize
from resnet_det.modeling.registry import build_classifier
from resnet_det.utils.distributed import get_rank, get_world_size
from resnet_det.weights.files import load_weights
from resnet_det.weights.loading import apply_weights

logger = logging.getLogger(__name__)
__all__ = ["ClassificationTrainer"]


class ClassificationTrainer(Trainer):
    """Cross-entropy training of a classifier; top-1/top-5 error on the test sets."""

    static_steps = True

    def __init__(self, cfg: CfgNode) -> None:
        CropSchedule.from_config(cfg)  # a ramp that cannot be stops the run now, not at the first batch
        super().__init__(cfg)
        self.normalize = Normalize.from_config(cfg).to(self.device)
        rank, world = get_rank(), get_world_size()
        # Loaded (in-memory sets onto the device) once, and now, so a missing test set stops the run at start.
        self._test_sources = {name: build_eval_batches(cfg, load_classification_dataset(name, cfg.DATASETS.ROOT),
                                                       self.device, rank, world)
                              for name in cfg.DATASETS.TEST}

    def build_model(self, cfg: CfgNode) -> nn.Module:
        model = build_classifier(cfg).to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.compile(model)
        return model

    def build_train_loader(self, cfg: CfgNode) -> Any:
        if len(cfg.DATASETS.TRAIN) != 1:
            raise ConfigValueError(f"classification trains on exactly one dataset; DATASETS.TRAIN is "
                                   f"{cfg.DATASETS.TRAIN}")
        train = load_classification_dataset(cfg.DATASETS.TRAIN[0], cfg.DATASETS.ROOT)
        if len(train.classes) != cfg.MODEL.NUM_CLASSES:
            raise ConfigValueError(f"{cfg.DATASETS.TRAIN[0]} has {len(train.classes)} classes but "
                             f"MODEL.NUM_CLASSES is {cfg.MODEL.NUM_CLASSES}")
        self.classes = tuple(train.classes)
        self._set_mean_image(train)
        style = self.normalize.style
        mean_rgb = style.pixel_mean[::-1] if self.normalize.bgr else style.pixel_mean
        return build_train_batches(cfg, train, self.device, get_rank(), get_world_size(),
                                   SampleAugment.from_config(cfg, mean_rgb))

    def _set_mean_image(self, train: ArrayDataset | FileDataset) -> None:
        """Fill a per-pixel-mean network's mean image from the training set: the same on every
        rank and at every resume, so a checkpoint's own equals it."""
        mean = getattr(getattr(self.model, "stem", None), "pixel_mean", None)
        if mean is None:
            return
        if self.cfg.INPUT.PROGRESSIVE_RESIZE.ENABLED:
            raise ConfigValueError("INPUT.NORMALIZE per_pixel_mean subtracts an image of one size; "
                                   "INPUT.PROGRESSIVE_RESIZE changes the size")
        if not isinstance(train, ArrayDataset):
            raise ConfigValueError(f"INPUT.NORMALIZE per_pixel_mean needs an in-memory training set (CIFAR), "
                             f"not the image files of {self.cfg.DATASETS.TRAIN[0]}")
        image = train.images.sum(axis=0, dtype=np.float64) / len(train.images)  # H x W x 3, no float copy of the set
        if image.shape[:2] != tuple(mean.shape[1:]):
            raise ConfigValueError(f"{self.cfg.DATASETS.TRAIN[0]}: images of {image.shape[:2]} but INPUT.CROP_SIZE "
                             f"{mean.shape[1]}; the per-pixel mean needs uncropped sizes")
        mean.copy_(torch.from_numpy(image).permute(2, 0, 1).float())
        logger.info("per-pixel mean of %d training images subtracted by the network", len(train.images))

    def load_initial_weights(self, path: str) -> None:
        """``path`` into the classifier by the rule detectors follow too (:func:`apply_weights`): a
        checkpoint of another style or architecture is refused, its classifier skipped (and logged)
        when trained on another number of classes, unless MODEL.WEIGHTS_STRICT."""
        weights = load_weights(path)
        apply_weights(self.model, weights, weights.state_dict, path, model_style=self.cfg.MODEL.WEIGHT_STYLE,
                      class_predictors=("linear.",), strict=self.cfg.MODEL.WEIGHTS_STRICT)
        logger.info("loaded %s into %s", path, self.cfg.MODEL.ARCH)

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"weight_style": self.cfg.MODEL.WEIGHT_STYLE, "arch": self.cfg.MODEL.ARCH}

    def predict(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """Class scores of uint8 (or float 0-255) RGB images by ``model`` (the classifier, or its DDP wrapper)."""
        x = self.normalize(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast:
            return model(x)

    def iterate_batches(self, start: int) -> Iterator[ImageBatch]:
        batches = super().iterate_batches(start)
        # Noise and mixing are drawn on the host for each iteration, so they come with the batch: the
        # step itself must not depend on the iteration for SOLVER.CUDA_GRAPH to replay it.
        stream = self.train_loader.stream
        if self.cfg.INPUT.COLOR_AUG:
            batches = (ImageBatch(pca_lighting(b.images.float(), self.cfg.INPUT.COLOR_AUG,
                                               stream.torch_generator(it), stream.local_slots), b.labels)
                       for it, b in enumerate(batches, start))
        mixing = BatchMixing.from_config(self.cfg)
        if mixing is not None:
            batches = (mixing(b, mixing_seed(stream.seed, it, stream.rank)) for it, b in enumerate(batches, start))
        return batches

    def build_hooks(self) -> list[HookBase]:
        """The base hooks, with :class:`~resnet_det.engine.hooks.PreciseBN` before the checkpointer
        when ``TEST.PRECISE_BN.ENABLED``."""
        built = super().build_hooks()
        if self.cfg.TEST.PRECISE_BN.ENABLED:
            at = next(i for i, h in enumerate(built) if isinstance(h, hooks.PeriodicCheckpointer))
            built.insert(at, hooks.PreciseBN(self.cfg.TEST.EVAL_PERIOD, self.model, self.precise_bn_inputs,
                                             self.cfg.TEST.PRECISE_BN.NUM_ITER))
        return built

    def precise_bn_inputs(self) -> Iterator[torch.Tensor]:
        """Training batches (augmented as in training), normalised as the model takes them."""
        for batch in self.iterate_batches(self.state.iter + 1):
            x = self.normalize(batch.images)
            yield x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def losses(self, batch: ImageBatch) -> StepOutput:
        logits = self.predict(self.train_model, batch.images)
        # Labels are class indices, or probabilities (soft targets) after MixUp / CutMix.
        loss = F.cross_entropy(logits.float(), batch.labels, label_smoothing=self.cfg.SOLVER.LABEL_SMOOTHING)
        with torch.no_grad():
            hard = batch.labels.argmax(1) if batch.labels.dim() == 2 else batch.labels
            error = 100 * (1 - topk_correct(logits, hard, (1,))[0].float() / len(hard))
        return StepOutput({"loss_cls": loss}, {"train_top1_error": error})

    def build_test_loader(self, cfg: CfgNode, dataset_name: str) -> Iterable[ViewBatch]:
        return self._test_sources[dataset_name]()

    def inference(self, batch: ViewBatch) -> torch.Tensor:
        """Softmax scores summed over the batch's views (TEST.MODE)."""
        probs = [self.predict(self.model, v.to(self.device, non_blocking=True)).float().softmax(dim=1)
                 for v in batch.views]
        return sum(probs[1:], probs[0])

    def build_evaluators(self, cfg: CfgNode, dataset_name: str) -> list[DatasetEvaluator]:
        kind = dataset_metadata(dataset_name).evaluator_type
        if kind != "classification":
            raise ConfigValueError(f"{dataset_name} is scored by a {kind} evaluator, not by top-k classification error")
        return [ClassificationEvaluator(self.device)]
