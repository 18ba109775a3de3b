"""Named classification datasets: CIFAR-10 (and the paper's 45k/5k split), ImageNet and the built-in
shapes, as in-memory arrays or lists of image files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resnet_det.data.datasets.cifar import CIFAR10_CLASSES, load_cifar10
from resnet_det.data.datasets.imagenet import load_imagenet_split
from resnet_det.data.datasets.paths import UnknownDatasetError, datasets_root
from resnet_det.data.datasets.shapes import SHAPES, make_classification_set

# Built-in shapes: a small train set and a disjoint test set (different seeds).
_SHAPES_SPLITS = {"train": (6000, 0), "test": (1000, 1)}
# The paper's CIFAR-10 analysis split: 45k train / 5k validation from a fixed shuffle of train.
_CIFAR_HOLDOUT = 5000

@dataclass
class ArrayDataset:
    """Images (N x H x W x 3 uint8 RGB), integer labels and class names."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]


@dataclass
class FileDataset:
    """Image files, integer labels and class names."""

    paths: list[Path]
    labels: list[int]
    classes: tuple[str, ...]


DATASET_NAMES = ("cifar10_train", "cifar10_test", "cifar10_train45k", "cifar10_val5k", "shapes_train",
                 "shapes_test", "imagenet_train", "imagenet_val")


def is_in_memory(name: str) -> bool:
    """Whether the classification set ``name`` is held as an array of small images (CIFAR-10, the
    built-in shapes), tested whole at their size, rather than read from image files (ImageNet)."""
    return not name.startswith("imagenet_")


def load_classification_dataset(name: str, root: str = "") -> ArrayDataset | FileDataset:
    """Load one of :data:`DATASET_NAMES` from the datasets root (or generate it, for shapes)."""
    if name in ("cifar10_train", "cifar10_test"):
        return ArrayDataset(*load_cifar10(datasets_root(root), name.split("_")[1]), CIFAR10_CLASSES)
    if name in ("cifar10_train45k", "cifar10_val5k"):
        images, labels = load_cifar10(datasets_root(root), "train")
        order = np.random.default_rng(0).permutation(len(images))
        keep = order[_CIFAR_HOLDOUT:] if name == "cifar10_train45k" else order[:_CIFAR_HOLDOUT]
        return ArrayDataset(images[keep], labels[keep], CIFAR10_CLASSES)
    if name in ("shapes_train", "shapes_test"):
        return ArrayDataset(*make_classification_set(*_SHAPES_SPLITS[name.split("_")[1]]), SHAPES)
    if name in ("imagenet_train", "imagenet_val"):
        paths, labels, wnids = load_imagenet_split(datasets_root(root) / "imagenet", name.split("_")[1])
        return FileDataset(paths, labels, tuple(wnids))
    raise UnknownDatasetError(f"unknown classification dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
