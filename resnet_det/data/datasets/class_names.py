"""The class lists torchvision ships (COCO, ImageNet-1k), read on first use."""
from __future__ import annotations

import functools


@functools.cache
def _coco_categories() -> tuple[tuple[int, str], ...]:
    """``(dataset id, name)`` of COCO's 80 categories; torchvision's list is indexed by dataset id."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    return tuple((i, c) for i, c in enumerate(FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])
                 if c not in ("__background__", "N/A"))


def coco_classes() -> tuple[str, ...]:
    """COCO's 80 categories in id order, which is the detectors' contiguous label order."""
    return tuple(name for _, name in _coco_categories())


def coco_category_ids() -> tuple[int, ...]:
    """The dataset ids of :func:`coco_classes` (1..90 with gaps), so results match COCO's annotation files."""
    return tuple(i for i, _ in _coco_categories())


@functools.cache
def imagenet_classes() -> tuple[str, ...]:
    """ImageNet-1k's class names in sorted-wnid order, the order :mod:`resnet_det.data.imagenet` labels by."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
