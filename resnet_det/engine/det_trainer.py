"""The detection trainer behind ``tools/train_net.py``: C4 Faster/Mask R-CNN, COCO evaluation."""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator

import torch
import torch.distributed as dist

from resnet_det.config import CfgNode
from resnet_det.data.catalog import coco_dataset_paths, register_from_config
from resnet_det.data.coco import CocoDetection
from resnet_det.data.detection_batches import DetectionBatches, eval_batches
from resnet_det.engine.distributed import get_rank, get_world_size, is_main_process
from resnet_det.engine.trainer import Trainer
from resnet_det.evaluation.coco import evaluate_coco, to_coco_results
from resnet_det.modeling.detection.loading import load_detector_weights
from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.utils.atomic import atomic_write

logger = logging.getLogger(__name__)


class DetectionTrainer(Trainer):
    """Trains the detector on ``DATASETS.TRAIN`` and reports COCO AP on each of ``DATASETS.TEST``."""

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__(cfg)
        register_from_config(cfg.DATASETS.REGISTER)
        self.model = build_detector(cfg).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._setup_optimizer()
        self._batches = None

    def load_initial_weights(self, path: str) -> None:
        load_detector_weights(self.model, path)

    def meta(self) -> dict[str, Any]:
        return {"weight_style": self.cfg.MODEL.WEIGHT_STYLE, "arch": f"c4_r{self.cfg.MODEL.RESNETS.DEPTH}"}

    def _dataset(self, name: str, with_masks: bool) -> CocoDetection:
        return CocoDetection(*coco_dataset_paths(name, self.cfg.DATASETS.ROOT), with_masks=with_masks)

    def iterate_batches(self, start: int) -> Iterator[Any]:
        if self._batches is None:
            if len(self.cfg.DATASETS.TRAIN) != 1:
                raise ValueError(f"training takes one dataset; DATASETS.TRAIN is {self.cfg.DATASETS.TRAIN}")
            name = self.cfg.DATASETS.TRAIN[0]
            self._batches = DetectionBatches(
                self._dataset(name, self.cfg.MODEL.MASK_ON), name, self.cfg.SOLVER.IMS_PER_BATCH, seed=self.cfg.SEED,
                flip=self.cfg.INPUT.RANDOM_FLIP, min_sizes=self.cfg.INPUT.MIN_SIZE_TRAIN,
                sampling=self.cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING, device=self.device,
                num_workers=self.cfg.DATALOADER.NUM_WORKERS,
                rank=get_rank(), world_size=get_world_size())
        return self._batches.iterate(start)

    def losses(self, batch, iteration: int):
        images, targets = batch
        return self.model(images, targets), {}

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """COCO AP (box, and mask with MASK_ON) on every test set; raw detections saved as JSON."""
        self.model.eval()
        iou_types = ("bbox", "segm") if self.cfg.MODEL.MASK_ON else ("bbox",)
        metrics = {}
        try:
            for name in self.cfg.DATASETS.TEST:
                dataset = self._dataset(name, with_masks=False)
                results = []
                for images, targets in eval_batches(dataset, self.cfg.TEST.IMS_PER_BATCH,
                                                    self.cfg.DATALOADER.NUM_WORKERS, get_rank(), get_world_size()):
                    outputs = self.model([im.to(self.device) for im in images])
                    for out, target in zip(outputs, targets):
                        results += to_coco_results(out, target["image_id"], dataset.category_ids)
                if get_world_size() > 1:
                    gathered = [None] * get_world_size()
                    dist.all_gather_object(gathered, results)
                    results = [r for part in gathered for r in part]
                if is_main_process():
                    out_dir = self.output_dir / "inference" / name
                    atomic_write(out_dir / "coco_instances_results.json", lambda f: f.write(json.dumps(results).encode()))
                    metrics[name] = evaluate_coco(dataset.coco, results, iou_types)
                    for iou_type, m in metrics[name].items():
                        logger.info("%s %s: AP %.2f AP50 %.2f AP75 %.2f", name, iou_type, m["AP"], m["AP50"], m["AP75"])
            if get_world_size() > 1:
                holder = [metrics]
                dist.broadcast_object_list(holder, src=0)
                metrics = holder[0]
        finally:
            self.model.train()
        return metrics

    def final_metrics(self, results: dict[str, Any], wall_time: float) -> dict[str, Any]:
        """``{test set: {"bbox": {AP...}, "segm": {AP...}, "per_category": {"bbox": {...}, ...}}}``."""
        metrics: dict[str, Any] = {"iterations": self.cfg.SOLVER.MAX_ITER, "wall_time_s": wall_time}
        for name, by_type in results.items():
            metrics[name] = {iou: {k: v for k, v in m.items() if k != "per_category"} for iou, m in by_type.items()}
            metrics[name]["per_category"] = {iou: m["per_category"] for iou, m in by_type.items()}
        return metrics
