#!/usr/bin/env python
"""Score a COCO results file (e.g. a run's inference/<set>/coco_instances_results.json) against a
dataset known by name, without running a model.

    python tools/evaluate_results.py --dataset coco_2017_val \
        --results output/coco_r101/inference/coco_2017_val/coco_instances_results.json
    python tools/evaluate_results.py --config demo --dataset shapes_det_val \
        --results coco_instances_results.json --out results.json

Box AP is always computed, mask AP when the records carry segmentations. ``--config`` supplies
``DATASETS.ROOT`` and ``DATASETS.REGISTER`` (for one's own COCO-format sets).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resnet_det.config import load_config
from resnet_det.data.datasets.catalog import dataset_metadata, load_detection_dataset, register_from_config
from resnet_det.engine.output_dir import check_writable
from resnet_det.evaluation.coco_evaluator import evaluate_coco
from resnet_det.evaluation.evaluator import summary_lines
from resnet_det.evaluation.results_file import read_results
from resnet_det.utils.atomic import atomic_write_json
from resnet_det.utils.cli import UsageError, main_guard


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="a COCO-format dataset name (coco_2017_val, ...)")
    parser.add_argument("--results", required=True, type=Path, help="the COCO results JSON to score")
    parser.add_argument("--config", help="a config (name or file) for DATASETS.ROOT and DATASETS.REGISTER")
    parser.add_argument("--out", type=Path, help="also write {dataset: {task: metrics}} here")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE pairs, e.g. DATASETS.ROOT /data")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    register_from_config(cfg.DATASETS.REGISTER)
    if dataset_metadata(args.dataset).evaluator_type != "coco":
        raise UsageError(f"--dataset {args.dataset} is not a COCO-format detection set")
    if args.out:
        check_writable(args.out.parent, "--out's folder")  # before the scoring, not after it
    dataset = load_detection_dataset(args.dataset, cfg.DATASETS.ROOT)
    if not dataset.coco.dataset.get("annotations"):
        raise UsageError(f"{args.dataset} has no annotations (an image list such as test-dev): nothing to score "
                         "against; submit the results file to the COCO evaluation server")
    records = read_results(args.results, dataset.coco)
    iou_types = ("bbox", "segm") if any("segmentation" in r for r in records) else ("bbox",)
    results = {args.dataset: evaluate_coco(dataset.coco, records, iou_types)}
    print("\n".join(summary_lines(results)))
    if args.out:
        atomic_write_json(args.out, results, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
