"""Fig. 6: training and test error over iterations, plain nets beside residual nets."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from resnet_det.analysis.plotting import plt, pretty_name, save_figure
from resnet_det.errors import UserError


@dataclass
class Curves:
    """One run's error curves, in percent, keyed by iteration."""

    name: str
    train: dict[int, float]
    test: dict[int, float]


class RunFilesError(UserError, FileNotFoundError):
    """A folder that is not a training run's output."""


def read_curves(run_dir: str | Path, test_set: str | None = None) -> Curves:
    """Training and test top-1 error from a run's ``metrics.json`` event stream (later lines win on resume).

    The run is named after ``MODEL.ARCH`` in its ``config.yaml``; the test set defaults to the
    first of ``DATASETS.TEST``.
    """
    run_dir = Path(run_dir)
    missing = [name for name in ("config.yaml", "metrics.json") if not (run_dir / name).is_file()]
    if missing:
        raise RunFilesError(f"{run_dir}: not the OUTPUT_DIR of a training run (no {' or '.join(missing)})")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    test_sets = config.get("DATASETS", {}).get("TEST") or [None]
    if not (test_set := test_set or test_sets[0]):
        raise RunFilesError(f"{run_dir}: the run has no DATASETS.TEST, so no test error to plot")
    train, test = {}, {}
    test_key = f"{test_set}/classification/top1_error"  # as the evaluation hook flattens results
    for line in (run_dir / "metrics.json").read_text().splitlines():
        record = json.loads(line)
        if "train_top1_error" in record:
            train[record["iteration"]] = record["train_top1_error"]
        if test_key in record:
            test[record["iteration"]] = record[test_key]
    return Curves(config["MODEL"]["ARCH"], train, test)


def plot_fig6(runs: list[Curves], out: str | Path) -> Path:
    """Dashed training error and bold test error; plain nets left, ResNets right, as the paper."""
    groups = {"plain": [r for r in runs if "plain" in r.name], "residual": [r for r in runs if "plain" not in r.name]}
    groups = {k: v for k, v in groups.items() if v}
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
    for ax, (title, members) in zip(axes[0], groups.items()):
        for i, run in enumerate(members):
            colour = f"C{i}"
            ax.plot([k / 1e4 for k in run.train], list(run.train.values()), "--", color=colour, linewidth=0.8)
            ax.plot([k / 1e4 for k in run.test], list(run.test.values()), "-", color=colour, linewidth=2,
                    label=pretty_name(run.name))
        ax.set(xlabel="iter. (1e4)", ylabel="error (%)", title=f"{title} nets (dashed: training, bold: test)")
    return save_figure(fig, axes[0], out)
