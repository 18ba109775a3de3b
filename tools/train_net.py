#!/usr/bin/env python
"""Train and evaluate C4 Faster/Mask R-CNN.

    python tools/train_net.py --config configs/demo.yaml
    python tools/train_net.py --config configs/coco_r101.yaml --eval-only MODEL.WEIGHTS model_final.pkl
    torchrun --nproc_per_node 8 tools/train_net.py --config configs/coco_r101.yaml --resume
"""
from __future__ import annotations

import argparse
import logging
import sys

from resnet_det.config import load_config
from resnet_det.engine.det_trainer import DetectionTrainer
from resnet_det.engine.distributed import is_main_process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument("--eval-only", action="store_true", help="evaluate MODEL.WEIGHTS (or the last checkpoint with --resume)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR's last checkpoint")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE pairs, e.g. SOLVER.MAX_ITER 1000")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if is_main_process() else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    trainer = DetectionTrainer(load_config(args.config, args.overrides))
    trainer.load(args.resume)
    results = trainer.evaluate() if args.eval_only else trainer.train()
    if is_main_process():
        for name in trainer.cfg.DATASETS.TEST:
            for iou_type, m in results[name].items():
                if iou_type != "per_category":
                    print(f"{name} {iou_type}: " + "  ".join(
                        f"{k} {'n/a' if m[k] is None else format(m[k], '.2f')}"
                        for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
