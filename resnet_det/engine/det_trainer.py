"""The detection trainer behind ``tools/train_net.py``: C4 Faster/Mask R-CNN, COCO and VOC evaluation."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from resnet_det.config import CfgNode, ConfigValueError
from resnet_det.data.datasets.catalog import (
    dataset_metadata,
    load_detection_dataset,
    load_training_set,
    register_from_config,
)
from resnet_det.data.loaders.batches import DetectionBatch
from resnet_det.data.loaders.detection import DetectionBatches, detection_test_batches
from resnet_det.engine.train_loop import StepOutput
from resnet_det.engine.trainer import Trainer
from resnet_det.evaluation.coco_evaluator import COCOEvaluator
from resnet_det.evaluation.evaluator import DatasetEvaluator
from resnet_det.evaluation.voc import VOCEvaluator
from resnet_det.modeling.detection.detector_weights import load_detector_weights
from resnet_det.modeling.detection.rcnn import C4RCNN, build_detector
from resnet_det.modeling.detection.structures import Instances
from resnet_det.modeling.detection.test_time import build_test_detector
from resnet_det.utils.distributed import get_rank, get_world_size


class DetectionTrainer(Trainer):
    """Trains the detector on ``DATASETS.TRAIN`` and reports each of ``DATASETS.TEST`` with the
    evaluator its catalog metadata names (COCO AP, or VOC AP for VOC sets)."""

    model: C4RCNN

    def __init__(self, cfg: CfgNode) -> None:
        if cfg.TEST.PRECISE_BN.ENABLED:
            raise ConfigValueError("TEST.PRECISE_BN is for classifiers: recompute a backbone's statistics with "
                             "tools/train_cls.py (or tools/precise_bn.py) before fine-tuning the detector")
        register_from_config(cfg.DATASETS.REGISTER)
        self._test_datasets: dict[str, Any] = {}  # parsed once, evaluated every TEST.EVAL_PERIOD
        super().__init__(cfg)
        # Built once: an ensemble or test-time augmentation wraps the model, so it follows the training weights.
        self.test_model: nn.Module = build_test_detector(self.model, cfg)

    def build_model(self, cfg: CfgNode) -> C4RCNN:
        model = build_detector(cfg).to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.compile(model.roi_heads.res5, dynamic=True)  # the number of RoIs varies
        return model

    def build_train_loader(self, cfg: CfgNode) -> DetectionBatches:
        dataset = load_training_set(cfg.DATASETS.TRAIN, cfg.DATASETS.ROOT, with_masks=cfg.MODEL.MASK_ON,
                                    mask_format=cfg.INPUT.MASK_FORMAT,
                                    max_image_pixels=cfg.DATALOADER.MAX_IMAGE_PIXELS)
        self._check_classes("+".join(cfg.DATASETS.TRAIN), dataset)
        self.classes = tuple(dataset.classes)
        return DetectionBatches.from_config(cfg, dataset, self.device, get_rank(), get_world_size())

    def load_initial_weights(self, path: str) -> None:
        load_detector_weights(self.model, path, strict=self.cfg.MODEL.WEIGHTS_STRICT)

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"weight_style": self.cfg.MODEL.WEIGHT_STYLE, "arch": f"c4_r{self.cfg.MODEL.RESNETS.DEPTH}"}

    def losses(self, batch: DetectionBatch) -> StepOutput:
        return StepOutput(self.train_model(batch.images, batch.targets))

    def _check_classes(self, name: str, dataset: Any) -> None:
        if len(dataset.classes) != self.cfg.MODEL.ROI_HEADS.NUM_CLASSES:
            raise ConfigValueError(f"{name} has {len(dataset.classes)} classes but MODEL.ROI_HEADS.NUM_CLASSES is "
                             f"{self.cfg.MODEL.ROI_HEADS.NUM_CLASSES}")

    def test_dataset(self, name: str) -> Any:
        """The test set ``name``, parsed (and its classes checked) on first use."""
        if name not in self._test_datasets:
            dataset = load_detection_dataset(name, self.cfg.DATASETS.ROOT,
                                             max_image_pixels=self.cfg.DATALOADER.MAX_IMAGE_PIXELS)
            self._check_classes(name, dataset)
            self._test_datasets[name] = dataset
        return self._test_datasets[name]

    def build_test_loader(self, cfg: CfgNode, dataset_name: str) -> Iterable[DetectionBatch]:
        return detection_test_batches(cfg, self.test_dataset(dataset_name), get_rank(), get_world_size())

    def inference(self, batch: DetectionBatch) -> list[Instances]:
        """Each image's detections; an image that could not be read gets none, and still counts."""
        readable = [im.to(self.device) for im in batch.images if im is not None]
        found = iter(self.test_model(readable) if readable else [])
        return [next(found) if im is not None else Instances.empty() for im in batch.images]

    def build_evaluators(self, cfg: CfgNode, dataset_name: str) -> list[DatasetEvaluator]:
        dataset, meta = self.test_dataset(dataset_name), dataset_metadata(dataset_name)
        if meta.evaluator_type == "pascal_voc":
            return [VOCEvaluator(dataset.classes, use_07_metric=meta.year == "2007")]
        if meta.evaluator_type == "coco":
            iou_types = ("bbox", "segm") if cfg.MODEL.MASK_ON else ("bbox",)
            return [COCOEvaluator(dataset.coco, dataset.category_ids, iou_types,
                                  self.output_dir / "inference" / dataset_name / "coco_instances_results.json")]
        raise ConfigValueError(f"{dataset_name} is scored by a {meta.evaluator_type} evaluator, not by a detection one")
