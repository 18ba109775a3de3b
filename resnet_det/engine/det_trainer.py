"""The detection trainer behind ``tools/train_net.py``: C4 Faster/Mask R-CNN, COCO evaluation."""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator

import torch
import torch.distributed as dist

from resnet_det.config import CfgNode
from resnet_det.data.catalog import load_detection_dataset, load_training_set, register_from_config
from resnet_det.data.detection_batches import DetectionBatches, eval_batches
from resnet_det.data.voc import VOCDetection
from resnet_det.engine.distributed import get_rank, get_world_size, is_main_process
from resnet_det.engine.trainer import Trainer
from resnet_det.evaluation.coco import evaluate_coco, to_coco_results
from resnet_det.evaluation.voc import evaluate_voc, group_by_class
from resnet_det.modeling.detection.loading import load_detector_weights
from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.utils.atomic import atomic_write

logger = logging.getLogger(__name__)
# What an image that could not be read is scored with: it still counts, as one where nothing was found.
_NO_DETECTIONS = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}


class DetectionTrainer(Trainer):
    """Trains the detector on ``DATASETS.TRAIN`` and reports COCO AP on each of ``DATASETS.TEST``."""

    def __init__(self, cfg: CfgNode) -> None:
        super().__init__(cfg)
        register_from_config(cfg.DATASETS.REGISTER)
        self.model = build_detector(cfg).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.compile(self.model.roi_heads.res5, dynamic=True)  # the number of RoIs varies
        self._setup_optimizer()
        self._batches = None
        self._test_sets: dict[str, Any] = {}  # parsed once, evaluated every TEST.EVAL_PERIOD

    def load_initial_weights(self, path: str) -> None:
        load_detector_weights(self.model, path)

    def meta(self) -> dict[str, Any]:
        return {"weight_style": self.cfg.MODEL.WEIGHT_STYLE, "arch": f"c4_r{self.cfg.MODEL.RESNETS.DEPTH}"}

    def iterate_batches(self, start: int) -> Iterator[Any]:
        if self._batches is None:
            cfg = self.cfg
            names = cfg.DATASETS.TRAIN
            dataset = load_training_set(names, cfg.DATASETS.ROOT, with_masks=cfg.MODEL.MASK_ON,
                                        max_image_pixels=cfg.DATALOADER.MAX_IMAGE_PIXELS)
            self._batches = DetectionBatches(
                dataset, "+".join(names), cfg.SOLVER.IMS_PER_BATCH, seed=cfg.SEED, flip=cfg.INPUT.RANDOM_FLIP,
                min_sizes=cfg.INPUT.MIN_SIZE_TRAIN, sampling=cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING, device=self.device,
                num_workers=cfg.DATALOADER.NUM_WORKERS, rank=get_rank(), world_size=get_world_size(),
                group_by_aspect_ratio=cfg.DATALOADER.ASPECT_RATIO_GROUPING, on_bad_image=cfg.DATALOADER.ON_BAD_IMAGE)
        return self._batches.iterate(start)

    def losses(self, batch):
        images, targets = batch
        return self.model(images, targets), {}

    def _predict(self, dataset) -> list[tuple[Any, dict, dict]]:
        """``(image id, output, target)`` for every image, gathered from all ranks onto each."""
        pairs = []
        cfg = self.cfg
        for images, targets in eval_batches(dataset, cfg.TEST.IMS_PER_BATCH, cfg.DATALOADER.NUM_WORKERS,
                                            get_rank(), get_world_size(), cfg.DATALOADER.ON_BAD_IMAGE):
            readable = [im.to(self.device) for im in images if im is not None]
            found = iter(self.model(readable) if readable else [])
            outputs = [next(found) if im is not None else _NO_DETECTIONS for im in images]
            pairs += [(t["image_id"], {k: v.cpu() for k, v in out.items()}, t) for out, t in zip(outputs, targets)]
        if get_world_size() > 1:
            gathered = [None] * get_world_size()
            dist.all_gather_object(gathered, pairs)
            pairs = [p for part in gathered for p in part]
        return pairs

    def _evaluate_one(self, name: str, dataset, pairs) -> dict[str, Any]:
        if isinstance(dataset, VOCDetection):  # VOC's own metric: 11-point for 2007, area for 2012
            metrics = evaluate_voc(group_by_class([(i, o) for i, o, _ in pairs], True),
                                   group_by_class([(i, t) for i, _, t in pairs], False), dataset.classes,
                                   use_07_metric=dataset.year == "2007")
            return {"bbox": metrics}
        results = [r for image_id, out, _ in pairs for r in to_coco_results(out, image_id, dataset.category_ids)]
        atomic_write(self.output_dir / "inference" / name / "coco_instances_results.json",
                     lambda f: f.write(json.dumps(results).encode()))
        return evaluate_coco(dataset.coco, results, ("bbox", "segm") if self.cfg.MODEL.MASK_ON else ("bbox",))

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """AP on every test set (COCO box/mask AP, or VOC AP for VOC sets); COCO detections saved as JSON."""
        self.model.eval()
        metrics = {}
        try:
            for name in self.cfg.DATASETS.TEST:
                if name not in self._test_sets:
                    self._test_sets[name] = load_detection_dataset(
                        name, self.cfg.DATASETS.ROOT, max_image_pixels=self.cfg.DATALOADER.MAX_IMAGE_PIXELS)
                dataset = self._test_sets[name]
                pairs = self._predict(dataset)
                if is_main_process():
                    metrics[name] = self._evaluate_one(name, dataset, pairs)
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
