#!/usr/bin/env python
"""Throughput of our models against their peers, measured in the same process on the same device.

    python tools/benchmark.py cls --device cuda --precision bf16 --channels-last --json out.json
    python tools/benchmark.py cls --device cpu --batch 8 --size 64 --iters 3   # a smoke run

``cls``: ResNet classification training (forward, backward, SGD step) and inference in images/s,
ours beside torchvision's model of the same depth (same stride placement, precision and layout),
on synthetic input.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F
import torchvision

from resnet_det import build_model


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], None], device: torch.device, warmup: int, iters: int) -> float:
    """Seconds per call of ``step`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    return (time.perf_counter() - start) / iters


def classification_steps(model: torch.nn.Module, logits: Callable, batch: int, size: int, device: torch.device,
                         precision: str, channels_last: bool) -> dict[str, Callable[[], None]]:
    """A training step and an inference step on fixed random data."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def train() -> None:
        with amp:
            loss = F.cross_entropy(logits(model, x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def infer() -> None:
        with amp:
            logits(model, x)

    return {"train": lambda: (model.train(), train()), "infer": lambda: (model.eval(), infer())}


def bench_cls(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    contenders = {
        "resnet_det": (build_model(f"resnet{args.depth}"), lambda m, x: m(x)["linear"]),
        "torchvision": (getattr(torchvision.models, f"resnet{args.depth}")(), lambda m, x: m(x)),
    }
    rows = []
    for name, (model, logits) in contenders.items():
        if args.compile:
            model = torch.compile(model)
        steps = classification_steps(model, logits, args.batch, args.size, device, args.precision,
                                     args.channels_last)
        for mode, step in steps.items():
            seconds = time_steps(step, device, args.warmup, args.iters)
            rows.append({"model": f"resnet{args.depth}", "impl": name, "mode": mode, "batch": args.batch,
                         "size": args.size, "precision": args.precision, "channels_last": args.channels_last,
                         "compile": args.compile, "images_per_s": args.batch / seconds})
    return rows


def print_table(rows: list[dict]) -> None:
    peer = {(r["mode"]): r["images_per_s"] for r in rows if r["impl"] == "torchvision"}
    print(f"{'impl':<12} {'mode':<6} {'images/s':>10} {'ours/peer':>9}")
    for r in rows:
        ratio = r["images_per_s"] / peer[r["mode"]] if r["impl"] == "resnet_det" else 1.0
        print(f"{r['impl']:<12} {r['mode']:<6} {r['images_per_s']:>10.1f} {ratio:>9.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cls = sub.add_parser("cls", help="classification training/inference, ours vs torchvision")
    cls.add_argument("--depth", type=int, default=101, choices=[18, 34, 50, 101, 152])
    cls.add_argument("--batch", type=int, default=256)
    cls.add_argument("--size", type=int, default=224)
    cls.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    cls.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    cls.add_argument("--channels-last", action="store_true")
    cls.add_argument("--compile", action="store_true")
    cls.add_argument("--warmup", type=int, default=5)
    cls.add_argument("--iters", type=int, default=20)
    cls.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    rows = bench_cls(args)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "CPU"
    print(f"device: {device}; torch {torch.__version__}, torchvision {torchvision.__version__}")
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "torch": torch.__version__, "torchvision": torchvision.__version__,
                       "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
