#!/usr/bin/env python
"""Train or evaluate a classifier.

    python tools/train_cls.py --config configs/demo_cls.yaml
    python tools/train_cls.py --config configs/cifar_resnet110.yaml OUTPUT_DIR out/r110 MODEL.DEVICE cuda
    torchrun --nproc_per_node 8 tools/train_cls.py --config configs/cifar_resnet56.yaml MODEL.DEVICE cuda
"""
from __future__ import annotations

import argparse
import logging
import sys

from resnet_det.config import load_config
from resnet_det.engine.checkpoint import unwrap
from resnet_det.engine.cls_trainer import ClassificationTrainer
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
    cfg = load_config(args.config, args.overrides)
    trainer = ClassificationTrainer(cfg)
    trainer.load(args.resume)
    if args.eval_only:
        results = trainer.evaluate()
    else:
        results = trainer.train()["datasets"]
    if is_main_process():
        for name, r in results.items():
            print(f"{name}: top-1 error {r['top1_error']:.2f}%  top-5 error {r['top5_error']:.2f}%  "
                  f"({r['num_images']} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
