"""``resnet_det.Predictor``: a trained detector or classifier applied to one's own images."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import torch
from torch import nn

from resnet_det.config import CfgNode, ConfigValueError, load_config
from resnet_det.data.datasets.catalog import dataset_classes, dataset_metadata, register_from_config
from resnet_det.data.datasets.classification import is_in_memory
from resnet_det.data.loaders.cls_transforms import check_test_flip, eval_views
from resnet_det.inference.inputs import ImageLike, as_rgb_tensor
from resnet_det.modeling.detection.detector_weights import apply_detector_weights
from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.modeling.detection.structures import Instances
from resnet_det.modeling.detection.test_time import build_test_detector
from resnet_det.modeling.preprocess import Normalize
from resnet_det.modeling.registry import build_classifier
from resnet_det.utils.distributed import resolve_device
from resnet_det.utils.geometry import ImageSizeError, resize_problem
from resnet_det.weights.files import load_weights
from resnet_det.weights.formats import WeightsFileError
from resnet_det.weights.loading import apply_weights


@dataclass(frozen=True)
class Classification:
    """The ``k`` most probable classes of one image, most probable first."""

    indices: torch.Tensor  # k, int64
    probabilities: torch.Tensor  # k, softmax averaged over the test views
    names: tuple[str, ...]


def class_names(num_classes: int, recorded: Sequence[str] | None, datasets: Sequence[str]) -> tuple[str, ...]:
    """Names for ``num_classes`` outputs: those the checkpoint recorded, else those of the first of
    ``datasets`` with as many classes, else ``class 0``, ``class 1``, ..."""
    if recorded is not None and len(recorded) == num_classes:
        return tuple(recorded)
    for name in datasets:  # one at a time: a registered set's names cost reading its json
        if (names := dataset_classes(name)) is not None and len(names) == num_classes:
            return names
    return tuple(f"class {i}" for i in range(num_classes))


def is_classification_config(cfg: CfgNode) -> bool:
    """Whether ``cfg`` configures a classifier (its datasets are classification sets) rather than a detector."""
    names = [*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST]
    return bool(names) and all(dataset_metadata(n).evaluator_type == "classification" for n in names)


class Predictor:
    """A trained model from a config and its weights, called on images.

    ``config``: a config name (``demo``, ``coco_r101``), a YAML path or a :class:`CfgNode`, with
    ``overrides`` (``KEY VALUE`` pairs) on top. ``weights``: a path or URL as ``MODEL.WEIGHTS``
    takes (default: the config's ``MODEL.WEIGHTS``). A detector returns :class:`Instances` in the
    caller's pixels (boolean masks for Mask R-CNN), a classifier the ``top_k`` classes
    (:class:`Classification`); results are on the CPU. Class names come from the checkpoint, or
    from the config's datasets when the checkpoint did not record them.
    """

    def __init__(self, config: str | os.PathLike | CfgNode, weights: str | os.PathLike | None = None, *,
                 device: str | None = None, overrides: Sequence[str] = (), top_k: int = 5) -> None:
        cfg = config.clone() if isinstance(config, CfgNode) else load_config(config, overrides)
        if isinstance(config, CfgNode) and overrides:
            cfg.merge_from_list(list(overrides))
        register_from_config(cfg.DATASETS.REGISTER)
        source = str(weights or cfg.MODEL.WEIGHTS)
        if not source:
            raise ConfigValueError("no weights to predict with: pass weights= (--weights) or set MODEL.WEIGHTS")
        self.cfg, self.top_k = cfg, top_k
        self.device = resolve_device(device or cfg.MODEL.DEVICE)
        self.is_classifier = is_classification_config(cfg)
        loaded = load_weights(source)
        if self.is_classifier:
            model = build_classifier(cfg)
            apply_weights(model, loaded, loaded.state_dict, source, model_style=cfg.MODEL.WEIGHT_STYLE,
                          class_predictors=("linear.",), strict=True)
            self.normalize = Normalize.from_config(cfg).to(self.device)
            if not self._whole_image_test:
                check_test_flip(cfg.TEST.MODE, cfg.TEST.FLIP)
            num_classes = cfg.MODEL.NUM_CLASSES
        else:
            model = build_detector(cfg)
            report = apply_detector_weights(model, loaded, source, strict=True)
            if report.missing:
                raise WeightsFileError(f"{source} holds a backbone, not a trained detector: {len(report.missing)} "
                                       f"detector parameters (e.g. {report.missing[-1]}) would be random")
            num_classes = cfg.MODEL.ROI_HEADS.NUM_CLASSES
            # Wrapping the model on its device: ensemble members are loaded onto the same one.
            self.detect: nn.Module = build_test_detector(model.to(self.device), cfg)
        self.model = model.to(self.device).eval()
        self.class_names = class_names(num_classes, loaded.classes, [*cfg.DATASETS.TEST, *cfg.DATASETS.TRAIN])

    def __call__(self, images: ImageLike | Sequence[ImageLike], *, channel_order: str = "RGB",
                 batch_size: int | None = None) -> Instances | Classification | list[Instances] | list[Classification]:
        """Predict one image (a path, an H x W x C uint8 array in ``channel_order``, or a uint8
        C x H x W tensor) or a list of them, ``batch_size`` (default ``TEST.IMS_PER_BATCH``) at a time."""
        if not isinstance(images, (list, tuple)):
            return self._predict([cast(ImageLike, images)], channel_order, batch_size)[0]
        return self._predict(list(images), channel_order, batch_size)

    def input_problem(self, image: torch.Tensor) -> str | None:
        """Why the model cannot take ``image`` (3 x H x W), or None: a detector refuses an image that
        its test resize would shrink to a side of 0 pixels."""
        if self.is_classifier or not self.cfg.INPUT.MIN_SIZE_TEST:
            return None
        height, width = image.shape[-2:]
        return resize_problem(height, width, self.cfg.INPUT.MIN_SIZE_TEST, self.cfg.INPUT.MAX_SIZE_TEST)

    def _predict(self, images: list[ImageLike], channel_order: str, batch_size: int | None) -> list:
        max_pixels = self.cfg.DATALOADER.MAX_IMAGE_PIXELS
        tensors = [as_rgb_tensor(x, channel_order, max_pixels) for x in images]
        for i, (source, tensor) in enumerate(zip(images, tensors)):
            if problem := self.input_problem(tensor):
                raise ImageSizeError(f"{source if isinstance(source, (str, os.PathLike)) else f'image {i}'}: {problem}")
        size = batch_size or self.cfg.TEST.IMS_PER_BATCH
        results: list = []
        for start in range(0, len(tensors), size):
            results.extend(self.predict_tensors(tensors[start:start + size]))
        return results

    @torch.inference_mode()
    def predict_tensors(self, images: Sequence[torch.Tensor]) -> list[Instances] | list[Classification]:
        """One batch of uint8 RGB 3 x H x W tensors, run together."""
        if not images:
            return []
        if self.is_classifier:
            return self._classify(images)
        return [det.to("cpu") for det in self.detect([im.to(self.device) for im in images])]

    @property
    def _whole_image_test(self) -> bool:
        return all(is_in_memory(name) for name in self.cfg.DATASETS.TRAIN)

    def test_views(self, image: np.ndarray) -> list[np.ndarray]:
        """The views (H x W x 3 uint8 RGB) whose probabilities are averaged, as the trainer tests:
        the whole image at the training size for the small in-memory sets (CIFAR-10, shapes),
        ``TEST.MODE`` crops or scales otherwise; with ``TEST.FLIP`` mirror images too."""
        cfg = self.cfg
        if self._whole_image_test:
            side = cfg.INPUT.CROP_SIZE
            whole = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
            return [whole, np.ascontiguousarray(whole[:, ::-1])] if cfg.TEST.FLIP else [whole]
        return eval_views(image, cfg.TEST.MODE, resize=cfg.TEST.RESIZE, crop=cfg.TEST.CROP_SIZE,
                          scales=cfg.TEST.SCALES, flip=cfg.TEST.FLIP)

    def _classify(self, images: Sequence[torch.Tensor]) -> list[Classification]:
        views = [(owner, view) for owner, image in enumerate(images)
                 for view in self.test_views(np.ascontiguousarray(image.permute(1, 2, 0).numpy()))]
        probs = torch.zeros(len(images), len(self.class_names))
        counts = torch.zeros(len(images), 1)
        for shape in dict.fromkeys(v.shape for _, v in views):  # views of one size run as one batch
            owners = torch.tensor([o for o, v in views if v.shape == shape])
            batch = torch.from_numpy(np.stack([v for _, v in views if v.shape == shape])).permute(0, 3, 1, 2)
            logits = self.model(self.normalize(batch.to(self.device)))
            probs.index_add_(0, owners, logits.float().softmax(dim=1).cpu())
            counts.index_add_(0, owners, torch.ones(len(owners), 1))
        top = (probs / counts).topk(min(self.top_k, probs.shape[1]), dim=1)
        return [Classification(i, p, tuple(self.class_names[k] for k in i.tolist()))
                for i, p in zip(top.indices, top.values)]
