"""ImageNet in the standard ``<split>/<wnid>/*.JPEG`` layout; class ids follow the sorted wnids."""
from __future__ import annotations

from pathlib import Path

from resnet_det.data.datasets.paths import DatasetNotFoundError

_SUFFIXES = (".jpeg", ".jpg", ".png")
_CLASS_LISTS = ("synsets.txt", "LOC_synset_mapping.txt")


def imagenet_classes(root: Path) -> list[str]:
    """The wnids in class-id order.

    From ``synsets.txt`` (or ``LOC_synset_mapping.txt``) in ``root`` when present, first word of
    each line; otherwise the sorted folders of ``root/train`` (all 1000 classes). The standard
    class order is the sorted wnids, which is what both give.
    """
    for name in _CLASS_LISTS:
        if (root / name).is_file():
            lines = (root / name).read_text().splitlines()
            return [line.split()[0] for line in lines if line.strip()]
    train = root / "train"
    if train.is_dir():
        return sorted(p.name for p in train.iterdir() if p.is_dir())
    raise DatasetNotFoundError(f"cannot tell ImageNet's class order: no {' or '.join(_CLASS_LISTS)} in {root} "
                               f"and no {train} folder")


def load_imagenet_split(root: Path, split: str) -> tuple[list[Path], list[int], list[str]]:
    """``(image paths, class ids, wnids)`` of ``root/<split>/<wnid>/*``."""
    folder = root / split
    if not folder.is_dir():
        raise DatasetNotFoundError(f"ImageNet {split} split not found at {folder} "
                                   "(set $RESNET_DET_DATASETS or DATASETS.ROOT)")
    wnids = imagenet_classes(root)
    class_id = {w: i for i, w in enumerate(wnids)}
    paths, labels = [], []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if class_dir.name not in class_id:
            raise DatasetNotFoundError(f"{class_dir}: {class_dir.name} is not an ImageNet class in the class list")
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in _SUFFIXES:
                paths.append(path)
                labels.append(class_id[class_dir.name])
    if not paths:
        raise DatasetNotFoundError(f"no images under {folder}/<wnid>/")
    return paths, labels, wnids
