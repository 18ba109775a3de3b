"""Named classification datasets held in memory: CIFAR-10 and the built-in shapes."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from resnet_det.data.cifar import CIFAR10_CLASSES, load_cifar10
from resnet_det.data.paths import datasets_root
from resnet_det.data.shapes import SHAPES, make_classification_set

# Built-in shapes: a small train set and a disjoint test set (different seeds).
_SHAPES_SPLITS = {"train": (6000, 0), "test": (1000, 1)}


@dataclass
class ArrayDataset:
    """Images (N x H x W x 3 uint8 RGB), integer labels and class names."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]


def load_array_dataset(name: str, root: str | os.PathLike = "") -> ArrayDataset:
    """Load ``cifar10_{train,test}`` or ``shapes_{train,test}``."""
    family, _, split = name.rpartition("_")
    if family == "cifar10":
        return ArrayDataset(*load_cifar10(datasets_root(root), split), CIFAR10_CLASSES)
    if family == "shapes" and split in _SHAPES_SPLITS:
        return ArrayDataset(*make_classification_set(*_SHAPES_SPLITS[split]), SHAPES)
    raise KeyError(f"unknown classification dataset {name!r}; known: cifar10_train, cifar10_test, "
                   "shapes_train, shapes_test")
