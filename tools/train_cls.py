#!/usr/bin/env python
"""Train or evaluate a classifier.

    python tools/train_cls.py --config configs/demo_cls.yaml
    python tools/train_cls.py --config configs/cifar_resnet110.yaml OUTPUT_DIR out/r110 MODEL.DEVICE cuda
    torchrun --nproc_per_node 8 tools/train_cls.py --config configs/cifar_resnet56.yaml MODEL.DEVICE cuda
"""
from __future__ import annotations

import sys

from resnet_det.engine.cls_trainer import ClassificationTrainer
from resnet_det.engine.launch import run


def main(argv: list[str] | None = None) -> int:
    return run(ClassificationTrainer, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
