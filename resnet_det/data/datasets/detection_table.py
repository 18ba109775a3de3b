"""What batching reads of every image of a detection dataset, held in arrays rather than per-image objects."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from resnet_det.data.decode.files import ImageDecodeError
from resnet_det.utils.geometry import resize_problem


class DetectionTable:
    """Base of the detection datasets: each image's ``(height, width)`` from its annotation file and
    how many usable boxes it kept, as arrays that loader workers share without copying. Sampling and
    aspect-ratio grouping read these without unpickling a record."""

    def _set_table(self, sizes: Sequence[tuple[int, int]], num_boxes: Sequence[int]) -> None:
        self._sizes = np.array(sizes, dtype=np.int64).reshape(-1, 2)
        self._num_boxes = np.array(num_boxes, dtype=np.int64)

    def has_usable_boxes(self, index: int) -> bool:
        """Whether image ``index`` kept a usable box (else training skips it)."""
        return bool(self._num_boxes[index])

    def image_size(self, index: int) -> tuple[int, int]:
        """``(height, width)`` from the annotation file (no decoding)."""
        height, width = self._sizes[index]
        return int(height), int(width)

    def image_path(self, index: int) -> Path:
        """The file of image ``index``."""
        raise NotImplementedError

    def read_checked(self, index: int, resize: tuple[int, int] | None) -> torch.Tensor:
        """``read_image(index)``, refused (:class:`ImageDecodeError`, so the bad-image policy applies)
        when resizing it to ``resize`` (shorter side, longest side) would leave a side of 0 pixels;
        the check reads the annotation file's size, not the pixels."""
        if resize is not None and (problem := resize_problem(*self.image_size(index), *resize)):
            raise ImageDecodeError(f"{self.image_path(index)}: {problem}")
        return self.read_image(index)

    def read_image(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    def is_landscape(self, index: int) -> bool:
        """Whether image ``index`` is wider than tall, from the annotation file (no decoding)."""
        height, width = self.image_size(index)
        return width > height
