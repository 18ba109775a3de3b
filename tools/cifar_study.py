#!/usr/bin/env python
"""The paper's CIFAR-10 study in one command: train plain and residual nets, tabulate, plot.

    python tools/cifar_study.py --root datasets --out output/cifar_study --parallel 4

Trains each config (default: ResNet-20/32/44/56/110, plain-20/56) with the paper's recipe, also
evaluating on the un-augmented training set, then writes ``RESULTS.md`` (test error beside Table
6, final training error, wall-clock seconds), ``fig6.png`` and ``fig7.png`` in ``--out``. Small
CIFAR nets leave a large GPU mostly idle, so ``--parallel`` runs several at once.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from resnet_det.analysis.curves import plot_fig6, read_curves
from resnet_det.analysis.responses import fig7
from resnet_det.paper import CIFAR_TEST_ERROR

REPO = Path(__file__).resolve().parents[1]

DEFAULT_CONFIGS = ("cifar_resnet20", "cifar_resnet32", "cifar_resnet44", "cifar_resnet56", "cifar_resnet110",
                   "cifar_plain20", "cifar_plain56")
PAPER_TEST_ERROR = {f"cifar_resnet{depth}": error for depth, error in CIFAR_TEST_ERROR.items()}  # Table 6


def _device_name() -> str:
    import torch
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"


def run_all(configs: list[str], root: str, out: Path, parallel: int, train_eval_set: str,
            overrides: list[str]) -> dict[str, dict]:
    """Train every config (``parallel`` at a time); return each run's metrics with its wall time."""
    pending, running, results = list(configs), {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            name = pending.pop(0)
            run_dir = out / name
            cfg = REPO / "configs" / f"{name}.yaml"
            test_sets = f'("{_first_test_set(cfg, overrides)}", "{train_eval_set}")'
            cmd = [sys.executable, str(REPO / "tools/train_cls.py"), "--config", str(cfg), "DATASETS.ROOT", root,
                   "OUTPUT_DIR", str(run_dir), *overrides, "DATASETS.TEST", test_sets]
            run_dir.mkdir(parents=True, exist_ok=True)
            log = open(run_dir / "stdout.log", "w")
            running[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), time.perf_counter(), log)
            print(f"started {name}", flush=True)
        for name, (proc, start, log) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[name]
            if proc.returncode:
                raise SystemExit(f"{name} failed (exit {proc.returncode}); see {out / name / 'stdout.log'}")
            metrics = json.loads((out / name / "results.json").read_text())
            metrics["process_seconds"] = time.perf_counter() - start
            results[name] = metrics
            print(f"finished {name}: test error {_error(metrics, 0):.2f}%", flush=True)
        time.sleep(1)
    return results


def _error(metrics: dict, test_set: int | str) -> float:
    """Top-1 error on a run's ``test_set`` (a name, or its position in DATASETS.TEST) from its results.json."""
    results = metrics["results"]
    name = list(results)[test_set] if isinstance(test_set, int) else test_set
    return results[name]["classification"]["top1_error"]


def _first_test_set(config: Path, overrides: list[str]) -> str:
    from resnet_det.config import load_config
    return load_config(config, overrides).DATASETS.TEST[0]


def results_table(results: dict[str, dict], train_eval_set: str) -> str:
    rows = ["| model | test error (%) | Table 6 (%) | training error (%) | iterations | run wall time (s) |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, m in results.items():
        paper = PAPER_TEST_ERROR.get(name)
        rows.append(f"| {name} | {_error(m, 0):.2f} | {paper if paper else '-'} | {_error(m, train_eval_set):.2f} "
                    f"| {m['iterations']} | {m['wall_time_s']:.0f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="datasets", help="datasets root holding CIFAR-10")
    parser.add_argument("--out", default="output/cifar_study")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--parallel", type=int, default=1, help="runs at once on the device")
    parser.add_argument("--train-eval-set", default="cifar10_train", help="un-augmented set for training error")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE pairs applied to every run")
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = run_all(args.configs, args.root, out, args.parallel, args.train_eval_set, args.overrides)
    plot_fig6([read_curves(out / name) for name in args.configs], out / "fig6.png")
    fig7([str(out / name / "model_final.pth") for name in args.configs], _first_test_set(
        REPO / "configs" / f"{args.configs[0]}.yaml", args.overrides), args.root, 1000, out / "fig7.png")
    table = results_table(results, args.train_eval_set)
    (out / "RESULTS.md").write_text(f"Device: {_device_name()}\n\n{table}\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
