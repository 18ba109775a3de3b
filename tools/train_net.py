#!/usr/bin/env python
"""Train and evaluate C4 Faster/Mask R-CNN.

    python tools/train_net.py --config configs/demo.yaml
    python tools/train_net.py --config configs/coco_r101.yaml --eval-only MODEL.WEIGHTS model_final.pkl
    torchrun --nproc_per_node 8 tools/train_net.py --config configs/coco_r101.yaml --resume
"""
from __future__ import annotations

import sys

from resnet_det.engine.det_trainer import DetectionTrainer
from resnet_det.engine.distributed import is_main_process
from resnet_det.engine.launch import default_argument_parser, setup


def main(argv: list[str] | None = None) -> int:
    args = default_argument_parser(__doc__).parse_args(argv)
    trainer = DetectionTrainer(setup(args))
    trainer.load(args.resume)
    results = trainer.evaluate() if args.eval_only else trainer.train()
    if is_main_process():
        for name in trainer.cfg.DATASETS.TEST:
            for iou_type, m in results[name].items():
                if iou_type != "per_category":
                    print(f"{name} {iou_type}: " + "  ".join(
                        f"{k} {'n/a' if m[k] is None else format(m[k], '.2f')}"
                        for k in ("AP", "AP50", "AP75", "APs", "APm", "APl") if k in m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
