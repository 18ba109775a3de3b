"""CIFAR-10 as uint8 arrays, from the official pickles or from class-folder images (plain or .tar.gz)."""
from __future__ import annotations

import logging
import tarfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from resnet_det.data.datasets.paths import DatasetNotFoundError
from resnet_det.utils.safe_pickle import safe_pickle_load

logger = logging.getLogger(__name__)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_ARCHIVES = ("cifar10.tar.gz", "cifar10_jpeg.tar.gz")


def load_cifar10(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(images NxHxWx3 uint8 RGB, labels N int64)`` of the ``"train"`` or ``"test"`` split.

    Looks under ``root`` for ``cifar-10-batches-py/``, then ``cifar10/<split>/<class>/``, then a
    ``cifar10.tar.gz`` or ``cifar10_jpeg.tar.gz`` holding ``<split>/<class>/`` folders.
    """
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    pickles, folder = root / "cifar-10-batches-py", root / "cifar10" / split
    archives = [root / name for name in _ARCHIVES]
    if pickles.is_dir():
        return _from_pickles(pickles, split)
    if folder.is_dir():
        return _from_members(_folder_members(folder), str(folder))
    for archive in archives:
        if archive.is_file():
            return _from_members(_archive_members(archive, split), f"{archive}:{split}/")
    looked = ", ".join(str(p) for p in (pickles, folder, *archives))
    raise DatasetNotFoundError(f"CIFAR-10 {split} split not found; looked for {looked} "
                               "(set $RESNET_DET_DATASETS or DATASETS.ROOT)")


def _from_pickles(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for name in names:
        path = directory / name
        if not path.is_file():
            raise DatasetNotFoundError(f"{path}: CIFAR-10 batch file missing")
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in safe_pickle_load(path).items()}
        images.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch["labels"], np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _folder_members(folder: Path) -> Iterator[tuple[str, str, bytes]]:
    for path in sorted(folder.glob("*/*")):
        if path.suffix.lower() in _IMAGE_SUFFIXES:
            yield path.parent.name, str(path), path.read_bytes()


def _archive_members(archive: Path, split: str) -> Iterator[tuple[str, str, bytes]]:
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if (member.isfile() and len(parts) >= 3 and parts[-3] == split
                    and Path(member.name).suffix.lower() in _IMAGE_SUFFIXES):
                yield parts[-2], f"{archive}:{member.name}", tar.extractfile(member).read()


def _from_members(members: Iterator[tuple[str, str, bytes]], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``(class folder, name, bytes)`` items; class ids come from sorted folder names."""
    by_class: dict[str, list[np.ndarray]] = {}
    skipped = 0
    for class_name, name, data in members:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None or image.shape[:2] != (32, 32):
            logger.warning("skipping %s: %s", name, "cannot decode" if image is None else f"size {image.shape[:2]}")
            skipped += 1
            continue
        by_class.setdefault(class_name, []).append(image[:, :, ::-1])
    if not by_class:
        raise DatasetNotFoundError(f"{where}: no CIFAR images found")
    if skipped:
        logger.warning("%s: skipped %d unreadable images", where, skipped)
    classes = sorted(by_class)
    images = np.stack([im for c in classes for im in by_class[c]])
    labels = np.concatenate([np.full(len(by_class[c]), i, np.int64) for i, c in enumerate(classes)])
    return images, labels
