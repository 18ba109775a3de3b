"""MixUp and CutMix on classification training batches (torchvision.transforms.v2), each batch's
draw seeded by its iteration, so a resumed run mixes as the uninterrupted one did."""
from __future__ import annotations

import numpy as np
from torchvision.transforms import v2

from resnet_det.config import CfgNode
from resnet_det.data.loaders.batches import ImageBatch
from resnet_det.utils.rng import seeded_global_rng


class BatchMixing:
    """Each batch mixed by MixUp (``mixup_alpha``) or CutMix (``cutmix_alpha``), one of the two
    picked at random per batch when both are positive, as torchvision's reference recipe does; the
    labels become soft targets, N x ``num_classes`` probabilities. Images pair with their neighbour
    in the batch, so with several processes a sample mixes only with those of its own rank."""

    def __init__(self, num_classes: int, mixup_alpha: float, cutmix_alpha: float) -> None:
        choices = ([v2.MixUp(alpha=mixup_alpha, num_classes=num_classes)] if mixup_alpha > 0 else []) + (
            [v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes)] if cutmix_alpha > 0 else [])
        if not choices:
            raise ValueError("BatchMixing needs mixup_alpha or cutmix_alpha above 0")
        self.mix = choices[0] if len(choices) == 1 else v2.RandomChoice(choices)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> BatchMixing | None:
        """``INPUT.MIXUP_ALPHA`` and ``INPUT.CUTMIX_ALPHA`` over ``MODEL.NUM_CLASSES``; None when both are 0."""
        if not (cfg.INPUT.MIXUP_ALPHA or cfg.INPUT.CUTMIX_ALPHA):
            return None
        return cls(cfg.MODEL.NUM_CLASSES, cfg.INPUT.MIXUP_ALPHA, cfg.INPUT.CUTMIX_ALPHA)

    def __call__(self, batch: ImageBatch, seed: int) -> ImageBatch:
        """``batch`` mixed (float images on the 0-255 scale, soft labels), its draws seeded by ``seed``."""
        with seeded_global_rng(seed):  # torchvision draws from the global generator
            images, labels = self.mix(batch.images.float(), batch.labels)
        return ImageBatch(images, labels)


def mixing_seed(seed: int, iteration: int, rank: int) -> int:
    """The seed of ``iteration``'s mixing on ``rank``."""
    return int(np.random.default_rng([seed, iteration, rank, 0x6D6978]).integers(2**63 - 1))
