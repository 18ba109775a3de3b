"""Shared figure helpers: headless matplotlib, the paper's model names, saving."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # servers have no display
import matplotlib.pyplot as plt


def pretty_name(arch: str) -> str:
    """``cifar_plain20`` -> ``plain-20``, ``cifar_resnet56`` -> ``ResNet-56``, as the paper labels them."""
    return arch.replace("cifar_", "").replace("resnet", "ResNet-").replace("plain", "plain-")


def save_figure(fig: plt.Figure, axes: Iterable[plt.Axes], out: str | Path) -> Path:
    """Grid and legend on every axis, tight layout, write ``out`` as PNG and free the figure."""
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
