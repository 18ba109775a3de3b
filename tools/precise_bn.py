#!/usr/bin/env python
"""Recompute a classifier's batch-norm statistics on its training set, weights held fixed, and
write the result: the paper's Appendix A, which computes them on ImageNet's training images
before the frozen BNs of a detector are initialised from them.

    python tools/precise_bn.py --config imagenet_r50 --weights r50.pth --output r50_precise_bn.pth
    python tools/precise_bn.py --config demo_cls --weights output/demo_cls/model_final.pth \
        --output /tmp/precise.pth --num-iter 20

Batches are the config's training batches (DATASETS.TRAIN, SOLVER.IMS_PER_BATCH, the training
augmentation); statistics are true averages over ``--num-iter`` of them (fvcore's
``update_bn_stats``), averaged across ranks under torchrun. The output is a resnet_det checkpoint
with the input's style, architecture and class names; ``tools/convert_weights.py`` turns it into a
detectron2 ``.pkl``.
"""
from __future__ import annotations

import argparse
import logging
import sys

from resnet_det.config import load_config
from resnet_det.data.datasets.classification import load_classification_dataset
from resnet_det.data.loaders.classification import build_train_batches
from resnet_det.engine.hooks import recompute_bn_stats
from resnet_det.engine.launch import setup_process
from resnet_det.modeling.preprocess import Normalize
from resnet_det.modeling.registry import build_classifier
from resnet_det.utils.cli import UsageError, main_guard
from resnet_det.utils.distributed import get_rank, get_world_size, is_main_process
from resnet_det.utils.logger import setup_logger
from resnet_det.weights import Weights, apply_weights, load_weights, save_weights

logger = logging.getLogger("resnet_det.precise_bn")


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a classification config (its DATASETS.TRAIN is read)")
    parser.add_argument("--weights", required=True, help="the classifier's checkpoint, in any format resnet_det reads")
    parser.add_argument("--output", required=True, help="where to write the checkpoint with new statistics")
    parser.add_argument("--num-iter", type=int, default=200, help="training batches to average over")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE config pairs")
    args = parser.parse_args(argv)
    setup_logger(rank=get_rank())
    cfg = load_config(args.config, args.overrides)
    device = setup_process(cfg)
    weights = load_weights(args.weights)
    model = build_classifier(cfg)
    apply_weights(model, weights, weights.state_dict, args.weights, model_style=cfg.MODEL.WEIGHT_STYLE,
                  class_predictors=("linear.",), strict=True)
    model.to(device).train()
    dataset = load_classification_dataset(cfg.DATASETS.TRAIN[0], cfg.DATASETS.ROOT)
    batches = build_train_batches(cfg, dataset, device, get_rank(), get_world_size())
    normalize = Normalize(cfg.MODEL.WEIGHT_STYLE).to(device)
    # Batches from the end of training on: a progressive crop has reached its final size there.
    layers = recompute_bn_stats(model, (normalize(b.images) for b in batches.iterate(cfg.SOLVER.MAX_ITER)),
                                args.num_iter)
    if not layers:
        raise UsageError(f"{args.weights}: the model has no trainable batch norms (MODEL.RESNETS.NORM "
                         f"{cfg.MODEL.RESNETS.NORM}) whose statistics could be recomputed")
    if is_main_process():
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        save_weights(Weights(state, weights.weight_style or cfg.MODEL.WEIGHT_STYLE, weights.arch or cfg.MODEL.ARCH,
                             classes=weights.classes), args.output)
        logger.info("statistics of %d batch norms over %d batches of %d images written to %s", layers,
                    args.num_iter, cfg.SOLVER.IMS_PER_BATCH, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
