"""Named classification datasets, and the train/test batch sources the trainer draws from.

In-memory datasets (CIFAR-10, the built-in shapes) live on the training device and are augmented
there; image-file datasets (ImageNet) are decoded and augmented by DataLoader workers.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from resnet_det.config import CfgNode
from resnet_det.data.batches import ViewBatch
from resnet_det.data.cifar import CIFAR10_CLASSES, load_cifar10
from resnet_det.data.file_batches import FileBatches, file_eval_batches
from resnet_det.data.imagenet import load_imagenet_split
from resnet_det.data.paths import UnknownDatasetError, datasets_root
from resnet_det.data.shapes import SHAPES, make_classification_set
from resnet_det.data.tensor_batches import TensorBatches
from resnet_det.utils.images import hwc_to_chw

# Built-in shapes: a small train set and a disjoint test set (different seeds).
_SHAPES_SPLITS = {"train": (6000, 0), "test": (1000, 1)}
# The paper's CIFAR-10 analysis split: 45k train / 5k validation from a fixed shuffle of train.
_CIFAR_HOLDOUT = 5000

EvalBatches = Iterator[ViewBatch]


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


def _nchw(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return hwc_to_chw(images).contiguous().to(device)


def array_eval_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, rank: int = 0,
                       world_size: int = 1) -> EvalBatches:
    """Single-view batches of this rank's share (every ``world_size``-th image) of in-memory images."""
    local = torch.arange(rank, len(images), world_size, device=images.device)
    for start in range(0, len(local), batch_size):
        idx = local[start:start + batch_size]
        yield ViewBatch([images[idx]], labels[idx])


def build_train_batches(cfg: CfgNode, dataset: ArrayDataset | FileDataset, device: torch.device,
                        rank: int, world_size: int) -> TensorBatches | FileBatches:
    """The endless, augmented training batch source for ``dataset``."""
    common = dict(seed=cfg.SEED, flip=cfg.INPUT.RANDOM_FLIP, rank=rank, world_size=world_size)
    if isinstance(dataset, ArrayDataset):
        return TensorBatches(_nchw(dataset.images, device), torch.from_numpy(dataset.labels).to(device),
                             cfg.SOLVER.IMS_PER_BATCH, pad=cfg.INPUT.PAD, crop=cfg.INPUT.CROP_SIZE, **common)
    return FileBatches(dataset.paths, dataset.labels, cfg.SOLVER.IMS_PER_BATCH,
                       shorter_side=cfg.INPUT.MIN_SIZE_TRAIN, sampling=cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING,
                       crop=cfg.INPUT.CROP_SIZE, device=device, num_workers=cfg.DATALOADER.NUM_WORKERS,
                       on_bad_image=cfg.DATALOADER.ON_BAD_IMAGE, max_pixels=cfg.DATALOADER.MAX_IMAGE_PIXELS,
                       decode_on_device=cfg.DATALOADER.DECODE_ON_DEVICE, **common)


def build_eval_batches(cfg: CfgNode, dataset: ArrayDataset | FileDataset, device: torch.device,
                       rank: int, world_size: int) -> Callable[[], EvalBatches]:
    """A function giving a fresh pass over this rank's share of ``dataset``."""
    if isinstance(dataset, ArrayDataset):
        images, labels = _nchw(dataset.images, device), torch.from_numpy(dataset.labels).to(device)
        return lambda: array_eval_batches(images, labels, cfg.TEST.IMS_PER_BATCH, rank, world_size)
    return lambda: file_eval_batches(
        dataset.paths, dataset.labels, batch_size=cfg.TEST.IMS_PER_BATCH, num_workers=cfg.DATALOADER.NUM_WORKERS,
        rank=rank, world_size=world_size, mode=cfg.TEST.MODE, resize=cfg.TEST.RESIZE, crop=cfg.TEST.CROP_SIZE,
        scales=cfg.TEST.SCALES, max_pixels=cfg.DATALOADER.MAX_IMAGE_PIXELS, on_bad_image=cfg.DATALOADER.ON_BAD_IMAGE)
