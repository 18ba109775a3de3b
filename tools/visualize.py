#!/usr/bin/env python
"""Draw a detector's predictions and the ground truth on a test set's images, as PNG files.

    python tools/visualize.py --config configs/demo.yaml MODEL.WEIGHTS output/demo/model_final.pth
    # -> OUTPUT_DIR/visualize/<image>_pred.png and <image>_gt.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import torch

from resnet_det import build_detector
from resnet_det.config import load_config
from resnet_det.data.datasets.catalog import load_detection_dataset, register_from_config
from resnet_det.modeling.detection.detector_weights import load_detector_weights
from resnet_det.utils.cli import main_guard
from resnet_det.utils.visualize import draw_instances


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--dataset", help="test set to draw (default: the first of DATASETS.TEST)")
    parser.add_argument("--num-images", type=int, default=8)
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--out", help="folder for the PNGs (default: OUTPUT_DIR/visualize)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE pairs, e.g. MODEL.WEIGHTS x.pth")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    register_from_config(cfg.DATASETS.REGISTER)
    model = build_detector(cfg)
    if cfg.MODEL.WEIGHTS:
        load_detector_weights(model, cfg.MODEL.WEIGHTS, strict=cfg.MODEL.WEIGHTS_STRICT)
    model.eval()
    name = args.dataset or cfg.DATASETS.TEST[0]
    dataset = load_detection_dataset(name, cfg.DATASETS.ROOT, with_masks=cfg.MODEL.MASK_ON,
                                     mask_format="bitmask")  # drawn as full-image masks
    out_dir = Path(args.out or Path(cfg.OUTPUT_DIR) / "visualize")
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in range(min(args.num_images, len(dataset))):
        image, target = dataset[i]
        with torch.no_grad():
            prediction = model([image])[0]
        rgb = image.permute(1, 2, 0).numpy()
        stem = str(target["image_id"])
        drawn = {"pred": draw_instances(rgb, prediction.boxes, prediction.labels, dataset.classes,
                                        scores=prediction.scores, masks=prediction.masks,
                                        score_threshold=args.score_threshold),
                 "gt": draw_instances(rgb, target["boxes"], target["labels"], dataset.classes,
                                      masks=target["masks"].bool() if "masks" in target else None)}
        for suffix, picture in drawn.items():
            cv2.imwrite(str(out_dir / f"{stem}_{suffix}.png"), picture[:, :, ::-1])
    print(f"wrote {2 * min(args.num_images, len(dataset))} images to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
