#!/usr/bin/env python
"""Record what detectron2 computes on the inputs the equivalence tests use, so that CI, where
detectron2 cannot be installed, compares resnet_det with it on every commit.

    PYTHONPATH=/path/to/detectron2 python tools/record_detectron2_reference.py --data ../shared/data

writes ``tests/reference/detectron2/``: ``meta.json`` (the detectron2 commit that computed the files),
and one JSON file per link of the chain: ``inference.json`` (R50-C4 Faster and Mask R-CNN detections
on 3 coco_mini val images, as given and resized to 800), ``train_step.json`` (one training step on 2
coco_mini train images with every labelled anchor and RoI sampled: losses, and each gradient's
norm, first values and seeded projections), ``mask_targets.json`` (polygon mask targets of boxes
around each instance), ``data_view.json`` (the training view of two images under fixed draws),
``solver.json`` (parameter groups and the learning rate of every iteration of the 3x schedule) and
``evaluation.json`` (COCO AP of fixed detections). Both sides build their weights from the same
recipe (:mod:`resnet_det.testing.reference`). The live tests call these functions and compare their
results with the files, so a file that no longer matches detectron2 fails them.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.testing.records import encode_rle, gradient_record, pack_bits, pixel_sample, runs
from resnet_det.testing.reference import reference_detector
from resnet_det.testing.reference_inputs import (
    DATA_VIEW_DRAWS,
    EXHAUSTIVE_SAMPLING,
    TEST_PROPOSALS,
    detector_config,
    evaluation_detections,
    mask_target_boxes,
    train_images,
    val_images,
)
from resnet_det.utils.cli import main_guard

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "reference" / "detectron2"
D2_CONFIGS = {False: "COCO-Detection/faster_rcnn_R_50_C4_3x.yaml",
              True: "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_3x.yaml"}
SOLVER_CONFIGS = {"coco_r101": "COCO-Detection/faster_rcnn_R_101_C4_3x.yaml",
                  "coco_mask_r101": "COCO-InstanceSegmentation/mask_rcnn_R_101_C4_3x.yaml"}


def _d2_root() -> Path:
    import detectron2
    return Path(detectron2.__file__).resolve().parents[1]


def detectron2_commit() -> str:
    """The detectron2 source's commit (or its version where it is no git checkout)."""
    import detectron2
    out = subprocess.run(["git", "-C", str(_d2_root()), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else f"version {detectron2.__version__}"


def their_config(name: str, **overrides: Any) -> Any:
    """detectron2's config ``name`` from its source's configs/, on the CPU, with ``overrides``."""
    from detectron2.config import get_cfg
    cfg = get_cfg()
    cfg.merge_from_file(str(_d2_root() / "configs" / name))
    cfg.MODEL.DEVICE = "cpu"
    cfg.merge_from_list([x for item in overrides.items() for x in item])
    return cfg


def their_detector(mask_on: bool, images: list[torch.Tensor], resize: int, **overrides: Any) -> Any:
    """detectron2's R50-C4 with the reference weights (built and calibrated by resnet_det, loaded as
    they are: the names are detectron2's)."""
    from detectron2.modeling import build_model
    ours = reference_detector(build_detector(detector_config(mask_on, resize)), images)
    theirs = build_model(their_config(D2_CONFIGS[mask_on], **overrides))
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return theirs


def _their_test_input(image: torch.Tensor, resize: bool) -> dict:
    """detectron2's test input of a uint8 RGB image: BGR, resized by ResizeShortestEdge(800, 1333)
    (PIL bilinear, as its DefaultPredictor) when ``resize``, with the original size."""
    from detectron2.data import transforms
    bgr = image.flip(0).permute(1, 2, 0).numpy()
    if resize:
        bgr = transforms.ResizeShortestEdge(800, 1333).get_transform(bgr).apply_image(bgr)
    return {"image": torch.as_tensor(bgr.transpose(2, 0, 1).astype("float32")), "height": image.shape[1],
            "width": image.shape[2]}


@torch.no_grad()
def inference_records(data: Path) -> dict:
    """``{"faster"|"mask": {"as-given"|"resized-800": [one dict per image]}}``: each image's top-100
    boxes (xyxy, its pixels), scores, labels and, for Mask R-CNN, RLE masks."""
    images = val_images(data)
    records: dict = {}
    for mask_on in (False, True):
        for resize in (False, True):
            model = their_detector(mask_on, images, 800 if resize else 0,
                                   **{"MODEL.RPN.POST_NMS_TOPK_TEST": TEST_PROPOSALS}).eval()
            found = [out["instances"] for out in model([_their_test_input(im, resize) for im in images])]
            records.setdefault("mask" if mask_on else "faster", {})["resized-800" if resize else "as-given"] = [
                {"boxes": inst.pred_boxes.tensor.tolist(), "scores": inst.scores.tolist(),
                 "labels": inst.pred_classes.tolist(),
                 **({"masks": [encode_rle(m) for m in inst.pred_masks]} if mask_on else {})} for inst in found]
    return records


def _their_targets(batch: list[dict], mask_on: bool) -> list[dict]:
    """detectron2's training inputs for our targets (the same boxes, classes and polygons): BGR images
    at their own size, no resize, no flip."""
    from detectron2.structures import Boxes, Instances, PolygonMasks
    inputs = []
    for image, target in batch:
        instances = Instances(tuple(image.shape[-2:]), gt_boxes=Boxes(target["boxes"].clone()),
                              gt_classes=target["labels"].clone())
        if mask_on:
            instances.gt_masks = PolygonMasks([[p.copy() for p in poly] for poly in target["polygons"]])
        inputs.append({"image": image.flip(0).float(), "instances": instances})
    return inputs


def train_step_records(data: Path) -> dict:
    """``{"faster"|"mask": {"losses": {name: value}, "gradients": {parameter: gradient_record}}}``."""
    from detectron2.utils.events import EventStorage
    batch = train_images(data)
    records = {}
    for mask_on in (False, True):
        overrides = {f"MODEL.{k}": v for k, v in EXHAUSTIVE_SAMPLING.items()}
        model = their_detector(mask_on, [im for im, _ in batch], 0, **overrides).train()
        with EventStorage(0):  # where detectron2's heads log their training statistics
            losses = model(_their_targets(batch, mask_on))
        sum(losses.values()).backward()
        records["mask" if mask_on else "faster"] = {
            "losses": {k: v.item() for k, v in losses.items()},
            "gradients": {n: gradient_record(n, p.grad) for n, p in model.named_parameters() if p.grad is not None}}
    return records


def mask_target_records(data: Path) -> dict:
    """``{"boxes": [...], "instances": [image, instance], "targets": [packed bits]}``: detectron2's
    ``PolygonMasks.crop_and_resize`` targets (28 x 28) of boxes around every polygon instance."""
    from detectron2.structures import PolygonMasks
    boxes, owners, targets = [], [], []
    for i, (_, target) in enumerate(train_images(data)):
        for j, polygons in enumerate(target["polygons"]):
            around = mask_target_boxes(target["boxes"][j], seed=1000 * i + j)
            masks = PolygonMasks([[p.copy() for p in polygons]] * len(around))
            targets += [pack_bits(m) for m in masks.crop_and_resize(around, 28)]
            boxes += around.tolist()
            owners += [[i, j]] * len(around)
    return {"boxes": boxes, "instances": owners, "targets": targets, "size": 28}


def data_view_records(data: Path) -> dict:
    """``{image id: {"<short side>-<flip>": view}}``: detectron2's ``DatasetMapper`` (ResizeShortestEdge
    to the side, longest 1333, RandomFlip with probability 0 or 1, RGB, polygons) of two coco_mini train
    images, the first with a crowd region and the first without: the instances it keeps (boxes,
    classes) and a sample of the view's pixels."""
    from detectron2.data import DatasetMapper, transforms
    from detectron2.data.datasets import load_coco_json
    dicts = load_coco_json(str(data / "coco_mini/annotations/instances_train2017.json"),
                           str(data / "coco_mini/train2017"), dataset_name="resnet_det_reference_train")
    with_crowd = next(d for d in dicts if any(a.get("iscrowd") for a in d["annotations"]))
    without = next(d for d in dicts if d["annotations"] and not any(a.get("iscrowd") for a in d["annotations"]))
    records: dict = {}
    for record in (with_crowd, without):
        for side, flip in DATA_VIEW_DRAWS:
            mapper = DatasetMapper(True, augmentations=[transforms.ResizeShortestEdge((side,), 1333, "choice"),
                                                        transforms.RandomFlip(prob=1.0 if flip else 0.0)],
                                   image_format="RGB", use_instance_mask=True, instance_mask_format="polygon")
            view = mapper(record)
            instances = view["instances"]
            records.setdefault(str(record["image_id"]), {})[f"{side}-{flip}"] = {
                "boxes": instances.gt_boxes.tensor.tolist(), "classes": instances.gt_classes.tolist(),
                "image": pixel_sample(view["image"].permute(1, 2, 0).numpy())}
    return records


def solver_records() -> dict:
    """``{config: {"groups": {parameter: [lr, weight decay]}, "lr": runs of the lr at each iteration}}``
    from detectron2's ``build_optimizer`` and ``build_lr_scheduler`` on its R101-C4 3x configs."""
    from detectron2.modeling import build_model
    from detectron2.solver import build_lr_scheduler, build_optimizer
    records = {}
    for ours, name in SOLVER_CONFIGS.items():
        cfg = their_config(name)
        model = build_model(cfg)
        optimizer = build_optimizer(cfg, model)
        names = {id(p): n for n, p in model.named_parameters()}
        # The schedule alone, on a one-parameter copy of the optimizer: stepping R101 270k times is hours.
        schedule = torch.optim.SGD([torch.zeros(1)], lr=cfg.SOLVER.BASE_LR)
        scheduler = build_lr_scheduler(cfg, schedule)
        lrs = []
        for _ in range(cfg.SOLVER.MAX_ITER):
            lrs.append(schedule.param_groups[0]["lr"])
            schedule.step()
            scheduler.step()
        records[ours] = {"groups": {names[id(p)]: [g["lr"], g["weight_decay"]] for g in optimizer.param_groups
                                    for p in g["params"]},
                         "lr": runs(lrs)}
    return records


def evaluation_records(data: Path) -> dict:
    """detectron2's ``COCOEvaluator`` results (``{"bbox"|"segm": {metric: value}}``, per-class AP
    included) on :func:`evaluation_detections` of coco_mini val."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import register_coco_instances
    from detectron2.evaluation import COCOEvaluator
    from detectron2.structures import Boxes, Instances
    from pycocotools import mask as mask_utils
    name = "resnet_det_reference_val"
    if name not in MetadataCatalog.list():
        register_coco_instances(name, {}, str(data / "coco_mini/annotations/instances_val2017.json"),
                                str(data / "coco_mini/val2017"))
    DatasetCatalog.get(name)  # loading the set fills its category id mapping in the metadata
    detections = evaluation_detections(data)
    # The official COCOeval, as resnet_det runs it (not detectron2's C++ reimplementation).
    evaluator = COCOEvaluator(name, tasks=("bbox", "segm"), distributed=False, use_fast_impl=False)
    evaluator.reset()
    to_contiguous = MetadataCatalog.get(name).thing_dataset_id_to_contiguous_id
    for image_id in sorted({d["image_id"] for d in detections}):
        mine = [d for d in detections if d["image_id"] == image_id]
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (d["bbox"] for d in mine)])
        masks = torch.from_numpy(np.stack([mask_utils.decode(d["segmentation"]) for d in mine])).bool()
        found = Instances(tuple(masks.shape[1:]), pred_boxes=Boxes(boxes), pred_masks=masks,
                          scores=torch.tensor([d["score"] for d in mine]),
                          pred_classes=torch.tensor([to_contiguous[d["category_id"]] for d in mine]))
        evaluator.process([{"image_id": image_id}], [{"instances": found}])
    return evaluator.evaluate()


RECORDERS = {"inference": inference_records, "train_step": train_step_records, "mask_targets": mask_target_records,
             "data_view": data_view_records, "solver": lambda data: solver_records(),
             "evaluation": evaluation_records}


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="the shared test data (coco_mini)")
    parser.add_argument("--out", type=Path, default=REFERENCE)
    parser.add_argument("--only", nargs="+", choices=sorted(RECORDERS), help="record only these files")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or RECORDERS:
        (args.out / f"{name}.json").write_text(json.dumps(RECORDERS[name](args.data)) + "\n")
        print(f"wrote {args.out / name}.json")
    meta = {"detectron2_commit": detectron2_commit(), "torch": torch.__version__}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
