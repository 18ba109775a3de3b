"""Turning what a caller holds (a file, an OpenCV or PIL-style array, a tensor) into the uint8 RGB
3 x H x W tensor the models take."""
from __future__ import annotations

import os

import numpy as np
import torch

from resnet_det.data.decode.files import DEFAULT_MAX_PIXELS, ImageDecodeError, read_rgb

ImageLike = str | os.PathLike | np.ndarray | torch.Tensor
CHANNEL_ORDERS = ("RGB", "BGR")


def _channel_error(shape: tuple[int, ...], layout: str) -> ValueError:
    return ValueError(f"expected an image of {layout} with 1, 3 or 4 channels, or H x W; got shape {shape}")


def _rgb_array(image: np.ndarray) -> np.ndarray:
    """H x W x 3 from grey (H x W or one channel, repeated) or with alpha (dropped)."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise _channel_error(tuple(image.shape), "H x W x C")
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]


def _rgb_tensor(image: torch.Tensor) -> torch.Tensor:
    """3 x H x W from grey (H x W or one channel, repeated) or with alpha (dropped)."""
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3 or image.shape[0] not in (1, 3, 4):
        raise _channel_error(tuple(image.shape), "C x H x W")
    return image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]


def as_rgb_tensor(image: ImageLike, channel_order: str = "RGB", max_pixels: int = DEFAULT_MAX_PIXELS
                  ) -> torch.Tensor:
    """``image`` as a uint8 RGB 3 x H x W tensor on the CPU.

    A path is decoded with its EXIF orientation applied (errors name the file). A numpy array is
    H x W x C (OpenCV and PIL layouts) and a tensor C x H x W (torchvision's), both uint8, in
    ``channel_order`` ("BGR" for what ``cv2.imread`` returns); grey images are repeated to three
    channels and alpha is dropped. One of more than ``max_pixels`` is refused before it is copied.
    """
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
    if isinstance(image, (str, os.PathLike)):
        return torch.from_numpy(read_rgb(image, max_pixels=max_pixels)).permute(2, 0, 1).contiguous()
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"expected a uint8 array (0-255), got {image.dtype}")
        _check_pixels(image.shape[:2], max_pixels)
        tensor = torch.from_numpy(np.ascontiguousarray(_rgb_array(image))).permute(2, 0, 1)
    elif isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8:
            raise ValueError(f"expected a uint8 tensor (0-255), got {image.dtype}")
        _check_pixels(tuple(image.shape[-2:]), max_pixels)
        tensor = _rgb_tensor(image.cpu())
    else:
        raise TypeError(f"expected a path, a numpy array or a tensor, got {type(image).__name__}")
    if channel_order == "BGR":
        tensor = tensor.flip(0)
    return tensor.contiguous()


def _check_pixels(shape: tuple[int, ...], max_pixels: int) -> None:
    """Refuse an image of ``(height, width)`` over ``max_pixels`` before it is copied, as files are refused."""
    pixels = shape[0] * shape[1] if len(shape) == 2 else 0
    if pixels > max_pixels:
        raise ImageDecodeError(f"a {shape[0]} x {shape[1]} image ({pixels / 1e6:.0f} megapixels) is over the limit of "
                               f"{max_pixels / 1e6:.0f} megapixels (DATALOADER.MAX_IMAGE_PIXELS)")
