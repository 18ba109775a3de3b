#!/usr/bin/env python
"""Mask R-CNN's training masks as polygons (``INPUT.MASK_FORMAT polygon``, detectron2's default) or as
full-resolution bitmasks (``bitmask``): what the loader carries per image, how long it takes, and
how the two kinds of 28 x 28 targets compare.

    python tools/benchmark_mask_targets.py --json ../shared/data/coco128/annotations/instances_train2017.json \
        --images ../shared/data/coco128/train2017

For each format: the bytes of one image's target as a DataLoader worker pickles it to the main
process, and the seconds to read the target (the image itself is decoded alike in both). Then, for
six boxes around every polygon instance, the IoU between its polygon target (rasterised in the
box) and its bitmask target (the decoded mask cropped by RoIAlign): percentiles, and the time
each format takes to make a target.
"""
from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from resnet_det.data.datasets.coco import CocoDetection
from resnet_det.modeling.detection.masks import mask_targets
from resnet_det.testing.reference_inputs import mask_target_boxes
from resnet_det.utils.cli import main_guard


def loader_costs(dataset: CocoDetection) -> dict[str, float]:
    """Median and mean pickled bytes of an image's target, and its median read time in ms."""
    sizes, seconds = [], []
    for i in range(len(dataset)):
        start = time.perf_counter()
        target = dataset.target(i)
        seconds.append(time.perf_counter() - start)
        sizes.append(len(pickle.dumps(target, protocol=pickle.HIGHEST_PROTOCOL)))
    return {"median_bytes": statistics.median(sizes), "mean_bytes": statistics.mean(sizes),
            "median_ms": 1000 * statistics.median(seconds)}


def target_ious(polygons: CocoDetection, bitmasks: CocoDetection) -> tuple[np.ndarray, dict[str, float]]:
    """IoU of the polygon and the bitmask target of six boxes around every polygon instance, and
    each format's microseconds per target (CPU, six targets of one instance at a time, as the mask
    head makes an image's targets)."""
    ious, seconds = [], {"polygon": 0.0, "bitmask": 0.0}
    for i in range(len(polygons)):
        as_polygons, as_bitmasks = polygons.target(i), bitmasks.target(i)
        for j, instance in enumerate(as_polygons.get("polygons", [])):
            if instance is None:
                continue
            boxes = mask_target_boxes(as_polygons["boxes"][j], seed=j)
            index = torch.full((len(boxes),), j)
            made = {}
            for fmt, target in (("polygon", as_polygons), ("bitmask", as_bitmasks)):
                start = time.perf_counter()
                made[fmt] = mask_targets(target, boxes, index, 28).bool()
                seconds[fmt] += time.perf_counter() - start
            a, b = made["polygon"], made["bitmask"]
            union = (a | b).sum(dim=(1, 2)).clamp(min=1)
            ious += ((a & b).sum(dim=(1, 2)) / union).tolist()
    return np.array(ious), {fmt: 1e6 * s / max(len(ious), 1) for fmt, s in seconds.items()}


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, required=True, help="a COCO instances json with masks")
    parser.add_argument("--images", type=Path, required=True)
    args = parser.parse_args(argv)
    datasets = {fmt: CocoDetection(args.json, args.images, with_masks=True, mask_format=fmt, ground_truth=False)
                for fmt in ("bitmask", "polygon")}
    print(f"{len(datasets['polygon'])} images of {args.json}")
    print("| INPUT.MASK_FORMAT | target bytes per image (median / mean) | target read per image (median ms) |")
    print("|---|---:|---:|")
    for fmt, dataset in datasets.items():
        c = loader_costs(dataset)
        print(f"| {fmt} | {c['median_bytes']:,.0f} / {c['mean_bytes']:,.0f} | {c['median_ms']:.2f} |")
    ious, micros = target_ious(datasets["polygon"], datasets["bitmask"])
    print(f"\npolygon vs bitmask targets, {len(ious)} boxes: IoU percentiles "
          + ", ".join(f"p{p} {np.percentile(ious, p):.3f}" for p in (1, 5, 25, 50, 75)))
    print(f"mean IoU {ious.mean():.3f}; IoU above 0.9 for {100 * (ious > 0.9).mean():.1f}% of the boxes")
    print("28 x 28 target, CPU: " + ", ".join(f"{fmt} {us:.0f} us" for fmt, us in micros.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
