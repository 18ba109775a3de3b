"""Per-sample augmentations of torchvision's V2 ImageNet recipe (torchvision.transforms.v2):
TrivialAugmentWide and random erasing, each sample's draw seeded by its (iteration, slot), so a
resumed run augments as the uninterrupted one did."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from resnet_det.config import CfgNode
from resnet_det.utils.rng import seeded_global_rng

AUTO_AUGMENTS = ("", "trivial_wide")


class SampleAugment:
    """A uint8 3 x H x W RGB image through TrivialAugmentWide (``policy`` ``"trivial_wide"``) and then
    random erasing with probability ``erasing``, erased to ``fill`` (RGB, 0-255: the weight style's
    mean, which normalisation turns into the zero torchvision's recipe erases to)."""

    def __init__(self, policy: str, erasing: float, fill: tuple[int, int, int]) -> None:
        if policy not in AUTO_AUGMENTS:
            raise ValueError(f"INPUT.AUTO_AUGMENT must be one of {AUTO_AUGMENTS}, got {policy!r}")
        parts: list[v2.Transform] = [v2.TrivialAugmentWide()] if policy else []
        if erasing > 0:
            parts.append(v2.RandomErasing(p=erasing, value=list(fill)))
        if not parts:
            raise ValueError("SampleAugment needs a policy or an erasing probability")
        self.transform = v2.Compose(parts)

    @classmethod
    def from_config(cls, cfg: CfgNode, mean_rgb: Sequence[float]) -> SampleAugment | None:
        """``INPUT.AUTO_AUGMENT`` and ``INPUT.RANDOM_ERASING``, erasing to ``mean_rgb`` (the input
        normalisation's mean); None when both are off."""
        if not (cfg.INPUT.AUTO_AUGMENT or cfg.INPUT.RANDOM_ERASING):
            return None
        fill = (round(mean_rgb[0]), round(mean_rgb[1]), round(mean_rgb[2]))
        return cls(cfg.INPUT.AUTO_AUGMENT, cfg.INPUT.RANDOM_ERASING, fill)

    def __call__(self, image: torch.Tensor, seed: int) -> torch.Tensor:
        with seeded_global_rng(seed):  # torchvision draws from the global generator
            return self.transform(image)
