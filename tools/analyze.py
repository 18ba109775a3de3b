#!/usr/bin/env python
"""Analyses of the paper's networks.

    python tools/analyze.py table1     # parameters and multiply-adds beside the paper's Table 1
"""
from __future__ import annotations

import argparse
import sys

import torchvision

from resnet_det import build_model
from resnet_det.modeling.cifar import CIFAR_DEPTHS
from resnet_det.modeling.resnet import ARCH_SETTINGS
from resnet_det.utils.complexity import count_multiply_adds, count_parameters

PAPER_GFLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}  # Table 1
PAPER_CIFAR_MPARAMS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7, 1202: 19.4}  # Table 6


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
                    f"| {PAPER_GFLOPS[depth]} |")
    rows += ["", "| CIFAR model | params (ours) | params (paper) | MMACs (ours, 32x32) |",
             "|---|---:|---:|---:|"]
    for depth in CIFAR_DEPTHS:
        model = build_model(f"cifar_resnet{depth}")
        rows.append(f"| ResNet-{depth} | {count_parameters(model) / 1e6:.3f} M "
                    f"| {PAPER_CIFAR_MPARAMS[depth]} M | {count_multiply_adds(model, (32, 32)) / 1e6:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("table1", help="parameters and FLOPs beside the paper's Table 1")
    args = parser.parse_args(argv)
    if args.command == "table1":
        print(table1())
    return 0


if __name__ == "__main__":
    sys.exit(main())
