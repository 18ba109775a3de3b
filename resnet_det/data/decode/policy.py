"""What happens to an image that cannot be used (DATALOADER.ON_BAD_IMAGE): training skips it for a
deterministic substitute, evaluation scores it as an image where nothing was found, or the run stops
naming it."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from resnet_det.data.decode.files import ImageDecodeError

logger = logging.getLogger(__name__)

BAD_IMAGE_POLICIES = ("skip", "fail")
_MAX_SUBSTITUTES = 8
T = TypeVar("T")


def check_bad_image_policy(policy: str) -> str:
    if policy not in BAD_IMAGE_POLICIES:
        raise ValueError(f"DATALOADER.ON_BAD_IMAGE must be one of {BAD_IMAGE_POLICIES}, got {policy!r}")
    return policy


def skip_training_image(error: ImageDecodeError, on_bad_image: str) -> None:
    """Log that a training image is skipped, or raise ``error`` under ``on_bad_image="fail"``."""
    if on_bad_image == "fail":
        raise ImageDecodeError(f"{error} (set DATALOADER.ON_BAD_IMAGE skip to train past it)") from None
    logger.warning("skipping training image: %s", error)


def read_or_substitute(read: Callable[[int], T], index: int, count: int, on_bad_image: str) -> tuple[int, T]:
    """``(i, read(i))`` for ``i = index`` or, under ``"skip"``, the first of the next indices (mod
    ``count``) that reads, each failure logged.

    The substitute is a function of ``index`` alone, so a resumed run substitutes what the
    uninterrupted one did. Under ``"fail"`` the first failure is raised.
    """
    check_bad_image_policy(on_bad_image)
    for attempt in range(_MAX_SUBSTITUTES):
        i = (index + attempt) % count
        try:
            return i, read(i)
        except ImageDecodeError as e:
            skip_training_image(e, on_bad_image)
    raise ImageDecodeError(f"{_MAX_SUBSTITUTES} consecutive training images from index {index} are unusable; "
                           "is the image folder right?")


def read_or_none(read: Callable[[], T], on_bad_image: str, consequence: str) -> T | None:
    """``read()``, or under ``"skip"`` None when it raises ImageDecodeError (logged with ``consequence``).

    For evaluation, where an unreadable image must still be counted rather than replaced.
    """
    try:
        return read()
    except ImageDecodeError as e:
        if check_bad_image_policy(on_bad_image) == "fail":
            raise
        logger.warning("%s: %s", consequence, e)
        return None
