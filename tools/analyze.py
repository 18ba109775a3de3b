#!/usr/bin/env python
"""Analyses of the paper's networks.

    python tools/analyze.py table1     # parameters and multiply-adds beside the paper's Table 1
    python tools/analyze.py fig6 output/cifar_plain20 output/cifar_plain56 output/cifar_resnet20 \
        output/cifar_resnet56 --out fig6.png        # error curves from training runs
    python tools/analyze.py fig7 output/cifar_plain20/model_final.pth output/cifar_resnet20/model_final.pth \
        --out fig7.png                              # 3x3 layer response stds on the test set
"""
from __future__ import annotations

import argparse
import sys

import torchvision

from resnet_det import build_model
from resnet_det.analysis.curves import plot_fig6, read_curves
from resnet_det.analysis.responses import fig7
from resnet_det.modeling.resnet import ARCH_SETTINGS
from resnet_det.paper import CIFAR_DEPTHS, CIFAR_MPARAMS, IMAGENET_GMACS
from resnet_det.utils.cli import main_guard
from resnet_det.utils.complexity import count_multiply_adds, count_parameters


def table1() -> str:
    """Markdown tables of our parameter counts and multiply-adds beside the paper and torchvision."""
    rows = ["| model | params (ours) | params (torchvision) | GMACs (ours, stride in 1x1) "
            "| GMACs (ours, stride in 3x3) | GMACs (paper) |",
            "|---|---:|---:|---:|---:|---:|"]
    for depth in ARCH_SETTINGS:
        ours = count_parameters(build_model(f"resnet{depth}"))
        tv = count_parameters(getattr(torchvision.models, f"resnet{depth}")())
        macs = [count_multiply_adds(build_model(f"resnet{depth}", stride_in_1x1=s), (224, 224)) / 1e9
                for s in (True, False)]
        rows.append(f"| ResNet-{depth} | {ours:,} | {tv:,} | {macs[0]:.3f} | {macs[1]:.3f} "
                    f"| {IMAGENET_GMACS[depth]} |")
    rows += ["", "| CIFAR model | params (ours) | params (paper) | MMACs (ours, 32x32) |",
             "|---|---:|---:|---:|"]
    for depth in CIFAR_DEPTHS:
        model = build_model(f"cifar_resnet{depth}")
        rows.append(f"| ResNet-{depth} | {count_parameters(model) / 1e6:.3f} M "
                    f"| {CIFAR_MPARAMS[depth]} M | {count_multiply_adds(model, (32, 32)) / 1e6:.1f} |")
    return "\n".join(rows)


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("table1", help="parameters and FLOPs beside the paper's Table 1")
    p6 = sub.add_parser("fig6", help="training/test error curves of plain and residual nets")
    p6.add_argument("runs", nargs="+", help="OUTPUT_DIRs of tools/train_cls.py runs")
    p6.add_argument("--test-set", help="test set whose error to plot (default: the run's first)")
    p6.add_argument("--out", default="fig6.png")
    p7 = sub.add_parser("fig7", help="std of each 3x3 layer's response, plain vs residual")
    p7.add_argument("checkpoints", nargs="+", help="trained checkpoints (their arch is read from them)")
    p7.add_argument("--dataset", default="cifar10_test")
    p7.add_argument("--root", default="", help="datasets root (default: $RESNET_DET_DATASETS or ./datasets)")
    p7.add_argument("--num-images", type=int, default=1000)
    p7.add_argument("--out", default="fig7.png")
    args = parser.parse_args(argv)
    if args.command == "table1":
        print(table1())
    elif args.command == "fig6":
        print(plot_fig6([read_curves(run, args.test_set) for run in args.runs], args.out))
    else:
        stds = fig7(args.checkpoints, args.dataset, args.root, args.num_images, args.out)
        for name, values in stds.items():
            print(f"{name}: {len(values)} layers, mean std {sum(values) / len(values):.3f}")
        print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
