"""The classification training crop by epoch: one size, or progressive resizing (FFCV's: the same
share of each image at a lower resolution early, when a step is cheap and coarse features are
learnt, the full resolution at the end)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from resnet_det.config import CfgNode, ConfigValueError


@dataclass(frozen=True)
class CropSchedule:
    """``size`` at every epoch; with ``start_size`` (0: off), ``start_size`` up to ``start_epoch``,
    ``size`` from ``end_epoch`` on, and in between the linear ramp rounded to a multiple of
    ``multiple`` (FFCV's rule, numpy's rounding), kept within the two sizes (where FFCV's may round
    below ``start_size`` when it is not a multiple)."""

    size: int
    start_size: int = 0
    start_epoch: int = 0
    end_epoch: int = 0
    multiple: int = 32

    def __post_init__(self) -> None:
        if self.start_size and not (0 < self.start_size <= self.size):
            raise ConfigValueError(f"INPUT.PROGRESSIVE_RESIZE.MIN_SIZE {self.start_size} must be positive and at most "
                                   f"INPUT.CROP_SIZE {self.size}")
        if self.end_epoch < self.start_epoch:
            raise ConfigValueError(f"INPUT.PROGRESSIVE_RESIZE.END_EPOCH {self.end_epoch} is before START_EPOCH "
                                   f"{self.start_epoch}")

    @classmethod
    def from_config(cls, cfg: CfgNode) -> CropSchedule:
        """``INPUT.CROP_SIZE``, ramped up to by ``INPUT.PROGRESSIVE_RESIZE`` when it is enabled."""
        ramp = cfg.INPUT.PROGRESSIVE_RESIZE
        if not ramp.ENABLED:
            return cls(cfg.INPUT.CROP_SIZE)
        return cls(cfg.INPUT.CROP_SIZE, ramp.MIN_SIZE, ramp.START_EPOCH, ramp.END_EPOCH, ramp.MULTIPLE)

    @classmethod
    def of(cls, crop: int | CropSchedule) -> CropSchedule:
        """``crop`` itself, or the schedule of a fixed side ``crop``."""
        return crop if isinstance(crop, CropSchedule) else cls(crop)

    @property
    def progressive(self) -> bool:
        return self.start_size > 0

    def at(self, epoch: int) -> int:
        """The crop side of training epoch ``epoch`` (0-based)."""
        if not self.progressive:
            return self.size
        if epoch <= self.start_epoch:
            return self.start_size
        if epoch >= self.end_epoch:
            return self.size
        ramp = np.interp(epoch, [self.start_epoch, self.end_epoch], [self.start_size, self.size])
        rounded = int(np.round(ramp / self.multiple)) * self.multiple
        return min(max(rounded, self.start_size), self.size)
