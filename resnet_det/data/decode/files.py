"""Reading image files defensively: every failure is an :class:`ImageDecodeError` naming the file.

The header is probed first (Pillow reads it without decoding pixels), so an image whose header
claims more than ``max_pixels`` is refused before a decompression bomb can exhaust memory, and a
file that is not an image, whatever its extension says, is named as such. Pixels are decoded
with OpenCV (faster than Pillow for JPEG). Grayscale, CMYK, palette, alpha (dropped) and 16-bit
files all come out as 8-bit RGB; truncated files are refused rather than half-decoded.

EXIF orientation is applied here rather than by the decoder, so the rule is the same for every
format and OpenCV version; see :func:`read_rgb` for how annotation sizes settle which way is up.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from resnet_det.errors import UserError

# 100 megapixels: a 12,000 x 8,000 photo still loads (about 300 MB decoded); a crafted PNG of
# 0.9 MB claiming 30,000 x 30,000 (2.7 GB decoded) does not.
DEFAULT_MAX_PIXELS = 100_000_000
_ORIENTATION_TAG = 0x0112
_TRANSPOSING = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class ImageDecodeError(UserError, ValueError):
    """An image file that cannot be used; the message names it and says why."""


def apply_exif_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (H x W x C) the way EXIF ``orientation`` (1..8) says they are displayed."""
    if orientation in _TRANSPOSING:
        image = image.swapaxes(0, 1)  # transpose; each case below then needs at most one flip
    if orientation in (2, 3, 6, 7):
        image = image[:, ::-1]
    if orientation in (3, 4, 7, 8):
        image = image[::-1]
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class EncodedImage:
    """An image file's bytes and what its header says (``orientation`` is the EXIF tag, 1..8)."""

    path: Path
    data: bytes
    width: int
    height: int
    orientation: int
    format: str
    mode: str  # Pillow's: "RGB" (YCbCr JPEGs too), "L", "CMYK", "P", ...
    progressive: bool = False


def _probe(path: Path, data: bytes) -> EncodedImage:
    """The header alone, read without decoding pixels."""
    # Only the header is read, so Pillow allocates nothing; its own bomb limit is lifted meanwhile
    # so that ours (which a user may raise past Pillow's 179 megapixels) is the one that applies.
    pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        header = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageDecodeError(f"{path}: not an image in a known format ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
    with header:
        try:
            orientation = header.getexif().get(_ORIENTATION_TAG, 1)
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageDecodeError(f"{path}: corrupt or truncated {header.format} data ({e})") from None
        width, height = header.size
        return EncodedImage(path, data, width, height, orientation if orientation in range(1, 9) else 1,
                            str(header.format), header.mode, bool(header.info.get("progressive")))


def read_encoded(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> EncodedImage:
    """An image file's bytes and header, refused (:class:`ImageDecodeError`) when it cannot be
    read, is not an image, or claims more than ``max_pixels``."""
    path = Path(path)
    try:
        data = path.read_bytes()  # read once: the header probe and the decoder share these bytes
    except OSError as e:
        raise ImageDecodeError(f"{path}: cannot read ({e.strerror or e})") from None
    if not data:
        raise ImageDecodeError(f"{path}: empty file (0 bytes)")
    encoded = _probe(path, data)
    width, height = encoded.width, encoded.height
    if width * height > max_pixels:
        raise ImageDecodeError(f"{path}: {width} x {height} image ({width * height / 1e6:.0f} megapixels) is over "
                               f"the limit of {max_pixels / 1e6:.0f} megapixels (DATALOADER.MAX_IMAGE_PIXELS)")
    return encoded


def decode_rgb(encoded: EncodedImage, *, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`read_rgb` of bytes already read by :func:`read_encoded`."""
    path, orientation = encoded.path, encoded.orientation
    width, height = encoded.width, encoded.height
    displayed = (width, height) if orientation in _TRANSPOSING else (height, width)
    if expected_size is not None and tuple(expected_size) != displayed:
        if tuple(expected_size) == (height, width):
            orientation = 1  # annotated on the stored pixels
        else:
            raise ImageDecodeError(f"{path}: image is {displayed[0]} x {displayed[1]} (height x width) but its "
                                   f"annotations say {expected_size[0]} x {expected_size[1]}")
    image = cv2.imdecode(np.frombuffer(encoded.data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise ImageDecodeError(f"{path}: corrupt or truncated {encoded.format} data ({len(encoded.data)} bytes)")
    # In place: a reversed-channel numpy copy would be a large part of the read (BENCHMARKS.md).
    return apply_exif_orientation(cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image), orientation)


def read_rgb(path: str | os.PathLike, *, expected_size: tuple[int, int] | None = None,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file as H x W x 3 uint8 RGB, displayed the way up its EXIF tag says.

    ``expected_size`` is ``(height, width)`` from the annotations. Boxes drawn on a photo agree
    with one of its two orientations: the displayed one (what a viewer and detectron2 show), or
    the stored one (what a tool that ignores EXIF shows). When the annotation size matches only
    the stored one, the stored pixels are returned; when it matches neither, the image is refused,
    since no box would land where it was drawn.
    """
    return decode_rgb(read_encoded(path, max_pixels=max_pixels), expected_size=expected_size)
