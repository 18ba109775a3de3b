"""Annotation boxes in pixel coordinates, before they become tensors."""
from __future__ import annotations


def clip_xyxy(x1: float, y1: float, x2: float, y2: float, width: float, height: float) -> list[float] | None:
    """The part of the box ``[x1, y1, x2, y2]`` inside a ``width x height`` image, or None if it has no area.

    An inverted box (``x2 < x1``) has no area either.
    """
    x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None
