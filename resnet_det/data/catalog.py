"""Detection datasets by name: COCO and the built-in shapes, plus any COCO-format set a user registers."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from resnet_det.data.paths import DatasetNotFoundError, datasets_root
from resnet_det.data.shapes_detection import shapes_detection_split

# name -> (annotation json, image folder) relative to the datasets root.
_COCO_BUILTINS = {
    "coco_2017_train": ("coco/annotations/instances_train2017.json", "coco/train2017"),
    "coco_2017_val": ("coco/annotations/instances_val2017.json", "coco/val2017"),
    "coco_2014_train": ("coco/annotations/instances_train2014.json", "coco/train2014"),
    "coco_2014_val": ("coco/annotations/instances_val2014.json", "coco/val2014"),
    "coco_2014_minival": ("coco/annotations/instances_minival2014.json", "coco/val2014"),
    "coco_2014_valminusminival": ("coco/annotations/instances_valminusminival2014.json", "coco/val2014"),
}
_GENERATED: dict[str, Callable[[], tuple[Path, Path]]] = {
    "shapes_det_train": lambda: shapes_detection_split("train"),
    "shapes_det_val": lambda: shapes_detection_split("val"),
}
_REGISTERED: dict[str, tuple[Path, Path]] = {}


def register_coco_instances(name: str, json_file: str | os.PathLike, image_root: str | os.PathLike) -> None:
    """Make a COCO-format dataset (instances json + image folder) available as ``name``."""
    if name in _COCO_BUILTINS or name in _GENERATED:
        raise KeyError(f"{name!r} is a built-in dataset name; choose another")
    _REGISTERED[name] = (Path(json_file), Path(image_root))


def register_from_config(entries) -> None:
    """Register ``DATASETS.REGISTER`` entries, each ``[name, json, image_root]``."""
    for entry in entries:
        if len(entry) != 3:
            raise ValueError(f"DATASETS.REGISTER entries are [name, json, image_root]; got {list(entry)}")
        _REGISTERED[str(entry[0])] = (Path(entry[1]), Path(entry[2]))


def coco_dataset_paths(name: str, root: str = "") -> tuple[Path, Path]:
    """``(json, image folder)`` of the detection dataset ``name``, checked to exist."""
    if name in _REGISTERED:
        json_file, image_root = _REGISTERED[name]
    elif name in _GENERATED:
        return _GENERATED[name]()
    elif name in _COCO_BUILTINS:
        base = datasets_root(root)
        json_file, image_root = (base / p for p in _COCO_BUILTINS[name])
    else:
        known = sorted([*_COCO_BUILTINS, *_GENERATED, *_REGISTERED])
        raise KeyError(f"unknown detection dataset {name!r}; known: {', '.join(known)} "
                       "(register others with DATASETS.REGISTER or register_coco_instances)")
    for path in (json_file, image_root):
        if not path.exists():
            raise DatasetNotFoundError(f"dataset {name}: {path} not found (set $RESNET_DET_DATASETS or DATASETS.ROOT)")
    return json_file, image_root
