#!/usr/bin/env python
"""Train or evaluate a classifier.

    python tools/train_cls.py --config configs/demo_cls.yaml
    python tools/train_cls.py --config configs/cifar_resnet110.yaml OUTPUT_DIR out/r110 MODEL.DEVICE cuda
    torchrun --nproc_per_node 8 tools/train_cls.py --config configs/cifar_resnet56.yaml MODEL.DEVICE cuda
"""
from __future__ import annotations

import sys

from resnet_det.engine.cls_trainer import ClassificationTrainer
from resnet_det.engine.distributed import is_main_process
from resnet_det.engine.launch import default_argument_parser, setup


def main(argv: list[str] | None = None) -> int:
    args = default_argument_parser(__doc__).parse_args(argv)
    trainer = ClassificationTrainer(setup(args))
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
