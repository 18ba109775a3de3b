"""The two weight styles: how a set of weights expects its input, and where its bottlenecks put the stride."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WeightStyle:
    """How a set of weights expects its input, and where its bottlenecks put the stride.

    ``pixel_mean``/``pixel_std`` are in ``channel_order`` on the 0-255 scale:
    ``input = (pixels - pixel_mean) / pixel_std``.
    """

    name: str
    channel_order: str
    pixel_mean: tuple[float, float, float]
    pixel_std: tuple[float, float, float]
    stride_in_1x1: bool

WEIGHT_STYLES: dict[str, WeightStyle] = {
    "caffe": WeightStyle("caffe", "BGR", (103.530, 116.280, 123.675), (1.0, 1.0, 1.0), True),
    "torchvision": WeightStyle("torchvision", "RGB", (123.675, 116.280, 103.530),
                               (58.395, 57.120, 57.375), False),
}

def get_weight_style(name: str) -> WeightStyle:
    """The :class:`WeightStyle` called ``name`` (``"caffe"`` or ``"torchvision"``)."""
    try:
        return WEIGHT_STYLES[name]
    except KeyError:
        raise ValueError(f"unknown weight style {name!r}; expected one of {sorted(WEIGHT_STYLES)}") from None
