"""Per-image classification augmentation and the paper's test-time views (numpy/OpenCV, uint8 RGB)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from resnet_det.config import ConfigValueError
from resnet_det.data.loaders.sampling import draw_short_side
from resnet_det.utils.geometry import shorter_side_shape

# AlexNet's PCA lighting noise on RGB in [0, 1] (the "standard colour augmentation" of the paper).
_PCA_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
_PCA_EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009],
                            [-0.5808, -0.0045, -0.8140],
                            [-0.5836, -0.6948, 0.4203]])


def _interpolation(scale: float) -> int:
    return cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR  # area averaging keeps shrinking alias-free


def resize_shorter(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so that the shorter side is ``size``, keeping the aspect ratio."""
    new_h, new_w = shorter_side_shape(*image.shape[:2], size)
    if (new_h, new_w) == image.shape[:2]:
        return image
    return cv2.resize(image, (new_w, new_h), interpolation=_interpolation(new_h / image.shape[0]))


def _source_span(start: int, length: int, scale: float, limit: int) -> tuple[int, int]:
    """The source pixels ``[lo, hi)`` that output pixels ``[start, start + length)`` of a resize by
    ``scale`` read, widened by the interpolation's reach (an area-averaging footprint is 1 / scale)."""
    margin = math.ceil(2 / scale) + 1
    return max(0, math.floor(start / scale) - margin), min(limit, math.ceil((start + length) / scale) + margin)


def resized_crop(image: np.ndarray, size: tuple[int, int], top: int, left: int, crop: int) -> np.ndarray:
    """The ``crop`` x ``crop`` window at ``(top, left)`` of ``image`` resized to ``size`` (h, w),
    resizing only the source pixels that window reads.

    A random crop keeps a fraction of a scaled ImageNet image, so resizing the whole of it wastes
    most of the work (BENCHMARKS.md has the timings). The window sits within half a pixel of where
    the whole resize puts it (the part resized starts on a source pixel, which need not land on an
    output pixel), which a random crop does not mind.
    """
    (h, w), (new_h, new_w) = image.shape[:2], size
    fy, fx = new_h / h, new_w / w
    y0, y1 = _source_span(top, crop, fy, h)
    x0, x1 = _source_span(left, crop, fx, w)
    # No dsize: OpenCV then maps output to source by exactly these factors, as the whole resize does.
    part = cv2.resize(image[y0:y1, x0:x1], None, fx=fx, fy=fy, interpolation=_interpolation(fy))
    oy = min(round(top - y0 * fy), part.shape[0] - crop)
    ox = min(round(left - x0 * fx), part.shape[1] - crop)
    return part[oy:oy + crop, ox:ox + crop]


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top:top + size, left:left + size]


@dataclass(frozen=True)
class View:
    """A training view of an image: resized whole to ``size`` (h, w), the ``crop`` x ``crop``
    window at ``(top, left)`` of that, mirrored when ``flip``."""

    size: tuple[int, int]
    top: int
    left: int
    crop: int
    flip: bool


CROP_MODES = ("scale", "random_resized")


def sample_view(height: int, width: int, rng: np.random.Generator, *, shorter_side: Sequence[int], sampling: str,
                crop: int, flip: bool, crop_mode: str = "scale") -> View:
    """A random training view of an image of ``height`` x ``width``, and a random flip. ``crop_mode``
    ``"scale"``: the paper's scale augmentation (the shorter side drawn by :func:`draw_short_side`),
    then a random ``crop`` window; ``"random_resized"``: :func:`random_resized_window` resized to
    ``crop`` x ``crop``. It needs the image's size alone, so a loader that decodes on the GPU draws
    the view from the file's header.
    """
    if crop_mode == "random_resized":
        y0, x0, h_c, w_c = random_resized_window(height, width, rng)
        # The window resized to crop x crop is the whole image resized by crop / h_c and crop / w_c.
        h, w = max(crop, round(height * crop / h_c)), max(crop, round(width * crop / w_c))
        top, left = min(round(y0 * crop / h_c), h - crop), min(round(x0 * crop / w_c), w - crop)
        return View((h, w), top, left, crop, bool(flip and rng.random() < 0.5))
    if crop_mode != "scale":
        raise ValueError(f"INPUT.CROP_MODE must be one of {CROP_MODES}, got {crop_mode!r}")
    side = draw_short_side(rng, shorter_side, sampling)
    h, w = shorter_side_shape(height, width, max(side, crop))
    top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    return View((h, w), top, left, crop, bool(flip and rng.random() < 0.5))


def random_resized_window(height: int, width: int, rng: np.random.Generator, scale: tuple[float, float] = (0.08, 1.0),
                          ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of torchvision's ``RandomResizedCrop`` window: a fraction of the area
    uniform in ``scale``, an aspect ratio log-uniform in ``ratio``, ten tries to fit it, then the
    largest centred window of a ratio within ``ratio``."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif aspect > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def apply_view(image: np.ndarray, view: View) -> np.ndarray:
    image = resized_crop(image, view.size, view.top, view.left, view.crop)
    return np.ascontiguousarray(image[:, ::-1] if view.flip else image)


def train_view(image: np.ndarray, rng: np.random.Generator, **view_kwargs) -> np.ndarray:
    """:func:`apply_view` of a view drawn by :func:`sample_view` (same keyword arguments)."""
    return apply_view(image, sample_view(*image.shape[:2], rng, **view_kwargs))


def check_test_flip(mode: str, flip: bool) -> None:
    """Refuse a test-time flip (``TEST.FLIP``) for the modes that hold mirror images already."""
    if flip and mode != "center":
        raise ConfigValueError(f"TEST.FLIP adds mirror images to TEST.MODE center; {mode} holds them already "
                               "(set TEST.FLIP False)")


def eval_views(image: np.ndarray, mode: str, *, resize: int = 256, crop: int = 224,
               scales: Sequence[int] = (224, 256, 384, 480, 640), flip: bool = False) -> list[np.ndarray]:
    """The views whose scores are averaged at test time.

    ``center``: one centre crop after resizing the shorter side to ``resize``, and with ``flip`` its
    mirror image too. ``10crop``: the
    four corners and the centre, and their mirror images (Table 3). ``multiscale``: the whole image
    with its shorter side at each of ``scales``, and mirrored; the network runs fully
    convolutionally on it, since global pooling followed by the linear layer equals the linear
    layer applied at every position and averaged (Table 4/5).
    """
    check_test_flip(mode, flip)
    if mode == "center":
        view = center_crop(resize_shorter(image, resize), crop)
        return [np.ascontiguousarray(v) for v in ([view, view[:, ::-1]] if flip else [view])]
    if mode == "10crop":
        image = resize_shorter(image, resize)
        h, w = image.shape[:2]
        corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), ((h - crop) // 2, (w - crop) // 2)]
        crops = [image[t:t + crop, s:s + crop] for t, s in corners]
        return [np.ascontiguousarray(c) for c in crops + [c[:, ::-1] for c in crops]]
    if mode == "multiscale":
        views = [resize_shorter(image, s) for s in scales]
        return [np.ascontiguousarray(v) for v in views + [v[:, ::-1] for v in views]]
    raise ValueError(f"unknown test mode {mode!r}; expected center, 10crop or multiscale")


def pca_lighting(images: torch.Tensor, std: float, generator: torch.Generator, slots: range) -> torch.Tensor:
    """Add AlexNet's PCA colour noise to a float batch of RGB images on the 0-255 scale.

    Noise is drawn for the whole global batch and ``slots`` picks this batch's part of it.
    """
    alpha = torch.randn(slots.stop, 3, generator=generator)[slots.start:] * std
    shift = (alpha * _PCA_EIGVAL) @ _PCA_EIGVEC.T * 255.0
    return images + shift.to(images.device, images.dtype)[:, :, None, None]
