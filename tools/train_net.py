#!/usr/bin/env python
"""Train and evaluate C4 Faster/Mask R-CNN.

    python tools/train_net.py --config configs/demo.yaml
    python tools/train_net.py --config configs/coco_r101.yaml --eval-only MODEL.WEIGHTS model_final.pkl
    torchrun --nproc_per_node 8 tools/train_net.py --config configs/coco_r101.yaml --resume
"""
from __future__ import annotations

import sys

from resnet_det.engine.det_trainer import DetectionTrainer
from resnet_det.engine.launch import run


def main(argv: list[str] | None = None) -> int:
    return run(DetectionTrainer, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
