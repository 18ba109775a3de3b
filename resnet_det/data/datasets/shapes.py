"""Deterministic synthetic images of coloured shapes: a dataset that needs no download.

Each shape is drawn from a mask, so the same code can give detection targets with exact masks.
"""
from __future__ import annotations

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring", "hbar", "vbar", "star", "hexagon")


def shape_mask(kind: str, size: int, center: tuple[float, float], radius: float,
               angle: float = 0.0) -> np.ndarray:
    """A ``size x size`` boolean mask of one shape of circumradius ``radius`` at ``center``."""
    mask = np.zeros((size, size), np.uint8)
    cx, cy = center
    shift = 4  # sub-pixel precision for cv2 drawing
    scale = 1 << shift

    def polygon(n: int, r: float, start: float) -> np.ndarray:
        t = start + angle + np.arange(n) * 2 * np.pi / n
        return np.round(np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1) * scale).astype(np.int32)

    def fill(points: np.ndarray) -> None:
        cv2.fillPoly(mask, [points], 1, lineType=cv2.LINE_8, shift=shift)

    if kind == "circle":
        cv2.circle(mask, (round(cx * scale), round(cy * scale)), round(radius * scale), 1, -1, shift=shift)
    elif kind == "ring":
        cv2.circle(mask, (round(cx * scale), round(cy * scale)), round(radius * scale), 1, -1, shift=shift)
        cv2.circle(mask, (round(cx * scale), round(cy * scale)), round(radius * 0.55 * scale), 0, -1,
                   shift=shift)
    elif kind == "square":
        fill(polygon(4, radius, np.pi / 4))
    elif kind == "diamond":
        fill(polygon(4, radius, 0.0))
    elif kind == "triangle":
        fill(polygon(3, radius, -np.pi / 2))
    elif kind == "hexagon":
        fill(polygon(6, radius, 0.0))
    elif kind == "star":
        outer, inner = polygon(5, radius, -np.pi / 2), polygon(5, radius * 0.45, -np.pi / 2 + np.pi / 5)
        fill(np.stack([outer, inner], 1).reshape(-1, 2))
    elif kind in ("cross", "hbar", "vbar"):
        half_long, half_short = radius, max(radius * 0.3, 1.0)
        bars = {"hbar": [(half_long, half_short)], "vbar": [(half_short, half_long)],
                "cross": [(half_long, half_short), (half_short, half_long)]}[kind]
        for hw, hh in bars:
            pts = np.array([[cx - hw, cy - hh], [cx + hw, cy - hh], [cx + hw, cy + hh], [cx - hw, cy + hh]])
            fill(np.round(pts * scale).astype(np.int32))
    else:
        raise ValueError(f"unknown shape {kind!r}; expected one of {SHAPES}")
    return mask.astype(bool)


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A dim, noisy RGB background with a random colour gradient."""
    base = rng.uniform(0, 90, size=3)
    ramp = np.linspace(0, 1, size)[None, :, None] * rng.uniform(-40, 40, size=3)
    noise = rng.normal(0, 12, size=(size, size, 3))
    return np.clip(base + ramp + noise, 0, 255)


def bright_colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated RGB colour that stands out from :func:`background`."""
    colour = rng.uniform(0, 255, size=3)
    colour[rng.integers(3)] = rng.uniform(200, 255)
    return colour


def make_classification_set(num_images: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``num_images`` ``size x size`` RGB images with one shape each; labels index :data:`SHAPES`.

    Deterministic in ``seed``; positions, sizes, rotations and colours vary.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((num_images, size, size, 3), np.uint8)
    labels = rng.integers(len(SHAPES), size=num_images)
    for i, label in enumerate(labels):
        radius = rng.uniform(0.25, 0.42) * size
        center = tuple(rng.uniform(radius * 0.8, size - radius * 0.8, size=2))
        mask = shape_mask(SHAPES[label], size, center, radius, angle=rng.uniform(-0.3, 0.3))
        image = background(rng, size)
        image[mask] = bright_colour(rng)
        images[i] = image.astype(np.uint8)
    return images, labels.astype(np.int64)
