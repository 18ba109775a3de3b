"""Detection datasets by name: COCO, PASCAL VOC, the built-in shapes, and COCO-format sets a user registers;
and every dataset's metadata, which says how its test set is scored."""
from __future__ import annotations

import bisect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from resnet_det.config import ConfigValueError
from resnet_det.data.datasets.cifar import CIFAR10_CLASSES
from resnet_det.data.datasets.class_names import coco_classes, imagenet_classes
from resnet_det.data.datasets.classification import DATASET_NAMES as CLASSIFICATION_DATASETS
from resnet_det.data.datasets.coco import CocoDetection
from resnet_det.data.datasets.paths import DatasetNotFoundError, UnknownDatasetError, datasets_root
from resnet_det.data.datasets.shapes import SHAPES
from resnet_det.data.datasets.shapes_detection import DETECTION_SHAPES, shapes_detection_split
from resnet_det.data.datasets.voc import VOC_CLASSES, VOCDetection
from resnet_det.data.decode.files import DEFAULT_MAX_PIXELS

# name -> (annotation json, image folder) relative to the datasets root.
_COCO_BUILTINS = {
    "coco_2017_train": ("coco/annotations/instances_train2017.json", "coco/train2017"),
    "coco_2017_val": ("coco/annotations/instances_val2017.json", "coco/val2017"),
    "coco_2014_train": ("coco/annotations/instances_train2014.json", "coco/train2014"),
    "coco_2014_val": ("coco/annotations/instances_val2014.json", "coco/val2014"),
    "coco_2014_minival": ("coco/annotations/instances_minival2014.json", "coco/val2014"),
    "coco_2014_valminusminival": ("coco/annotations/instances_valminusminival2014.json", "coco/val2014"),
    # Image lists without annotations: evaluation writes the results to submit and scores nothing.
    "coco_2017_test": ("coco/annotations/image_info_test2017.json", "coco/test2017"),
    "coco_2017_test-dev": ("coco/annotations/image_info_test-dev2017.json", "coco/test2017"),
    "coco_2015_test": ("coco/annotations/image_info_test2015.json", "coco/test2015"),
    "coco_2015_test-dev": ("coco/annotations/image_info_test-dev2015.json", "coco/test2015"),
}
_GENERATED: dict[str, Callable[[], tuple[Path, Path]]] = {
    "shapes_det_train": lambda: shapes_detection_split("train"),
    "shapes_det_val": lambda: shapes_detection_split("val"),
}
_REGISTERED: dict[str, tuple[Path, Path]] = {}
# PASCAL VOC name -> (year, ImageSets/Main split) under <root>/VOC<year> or <root>/VOCdevkit/VOC<year>.
_VOC = {f"voc_{year}_{split}": (year, split)
        for year in ("2007", "2012") for split in ("trainval", "test", "train", "val")}


@dataclass(frozen=True)
class DatasetMetadata:
    """What scoring a dataset needs besides its images and annotations (detectron2's ``MetadataCatalog``).

    ``evaluator_type`` is ``"coco"``, ``"pascal_voc"`` or ``"classification"``; ``year`` is a VOC
    set's year, which picks its AP (the 11-point metric for 2007, the area for 2012).
    """

    evaluator_type: str
    year: str | None = None


def dataset_metadata(name: str) -> DatasetMetadata:
    """The metadata of a dataset known by ``name`` (every COCO-format set is scored as COCO)."""
    if name in _VOC:
        return DatasetMetadata("pascal_voc", year=_VOC[name][0])
    if name in CLASSIFICATION_DATASETS:
        return DatasetMetadata("classification")
    _check_coco_name(name)
    return DatasetMetadata("coco")


def dataset_classes(name: str) -> tuple[str, ...] | None:
    """The class names of dataset ``name`` where they are fixed by the name (COCO, VOC, CIFAR-10,
    ImageNet, the built-in shapes) or by a registered annotation file that is present; else None.
    No images or annotations of a built-in set are read, so a model can be named without its data."""
    if name in _REGISTERED:
        json_file = _REGISTERED[name][0]
        if not json_file.is_file():
            return None
        with open(json_file, "rb") as f:
            categories = json.load(f).get("categories", [])
        return tuple(c["name"] for c in sorted(categories, key=lambda c: c["id"]))
    if name in _VOC:
        return VOC_CLASSES
    if name in _GENERATED:
        return DETECTION_SHAPES
    if name in _COCO_BUILTINS:
        return coco_classes()
    if name in CLASSIFICATION_DATASETS:
        prefix = name.split("_")[0]
        return imagenet_classes() if prefix == "imagenet" else {"cifar10": CIFAR10_CLASSES, "shapes": SHAPES}[prefix]
    return None


def _check_coco_name(name: str) -> None:
    """Raise the catalog's KeyError, listing the names it knows, unless ``name`` is a COCO-format set."""
    if name not in _REGISTERED and name not in _GENERATED and name not in _COCO_BUILTINS:
        known = sorted([*_COCO_BUILTINS, *_GENERATED, *_REGISTERED, *_VOC, *CLASSIFICATION_DATASETS])
        raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(known)} "
                       "(register others with DATASETS.REGISTER or register_coco_instances)")


def register_coco_instances(name: str, json_file: str | os.PathLike, image_root: str | os.PathLike) -> None:
    """Make a COCO-format dataset (instances json + image folder) available as ``name``."""
    if name in _COCO_BUILTINS or name in _GENERATED:
        raise KeyError(f"{name!r} is a built-in dataset name; choose another")
    _REGISTERED[name] = (Path(json_file), Path(image_root))


def register_from_config(entries) -> None:
    """Register ``DATASETS.REGISTER`` entries, each ``[name, json, image_root]``."""
    for entry in entries:
        if not isinstance(entry, (list, tuple)) or len(entry) != 3 or not all(isinstance(e, str) for e in entry):
            raise ConfigValueError(f"DATASETS.REGISTER entries are [name, json, image_root]; got {entry!r}")
        if entry[0] in _COCO_BUILTINS or entry[0] in _GENERATED:
            raise ConfigValueError(f"DATASETS.REGISTER: {entry[0]!r} is a built-in dataset name; choose another")
        _REGISTERED[entry[0]] = (Path(entry[1]), Path(entry[2]))


def coco_dataset_paths(name: str, root: str = "") -> tuple[Path, Path]:
    """``(json, image folder)`` of the detection dataset ``name``, checked to exist."""
    if name in _REGISTERED:
        json_file, image_root = _REGISTERED[name]
    elif name in _GENERATED:
        return _GENERATED[name]()
    else:
        _check_coco_name(name)
        base = datasets_root(root)
        json_file, image_root = (base / p for p in _COCO_BUILTINS[name])
    for path in (json_file, image_root):
        if not path.exists():
            raise DatasetNotFoundError(f"dataset {name}: {path} not found (set $RESNET_DET_DATASETS or DATASETS.ROOT)")
    return json_file, image_root


class ConcatDetection:
    """Several detection datasets with the same classes, read as one (e.g. VOC 07+12)."""

    def __init__(self, datasets: list) -> None:
        classes = {tuple(d.classes) for d in datasets}
        if len(classes) != 1:
            raise ConfigValueError("DATASETS.TRAIN: datasets trained together must have the same classes")
        self.datasets, self.classes = datasets, datasets[0].classes
        self.offsets = [0]
        for d in datasets:
            self.offsets.append(self.offsets[-1] + len(d))

    def __len__(self) -> int:
        return self.offsets[-1]

    def _locate(self, index: int) -> tuple:
        part = bisect.bisect_right(self.offsets, index) - 1
        return self.datasets[part], index - self.offsets[part]

    def _call(self, method: str, index: int):
        dataset, local = self._locate(index)
        return getattr(dataset, method)(local)

    def __getitem__(self, index: int):
        return self._call("__getitem__", index)

    def has_usable_boxes(self, index: int) -> bool:
        return self._call("has_usable_boxes", index)

    def is_landscape(self, index: int) -> bool:
        return self._call("is_landscape", index)

    def image_size(self, index: int) -> tuple[int, int]:
        return self._call("image_size", index)

    def image_path(self, index: int):
        return self._call("image_path", index)

    def read_checked(self, index: int, resize: tuple[int, int] | None):
        dataset, local = self._locate(index)
        return dataset.read_checked(local, resize)

    def read_image(self, index: int):
        return self._call("read_image", index)

    def target(self, index: int) -> dict:
        return self._call("target", index)


def load_detection_dataset(name: str, root: str = "", with_masks: bool = False, mask_format: str = "polygon",
                           max_image_pixels: int = DEFAULT_MAX_PIXELS, ground_truth: bool = True):
    """A :class:`CocoDetection` or :class:`VOCDetection` by name (see :func:`coco_dataset_paths`);
    ``ground_truth`` False leaves out what only evaluation reads (a COCO set's ``coco`` index)."""
    if name in _VOC:
        return VOCDetection(datasets_root(root), *_VOC[name], max_image_pixels=max_image_pixels)
    return CocoDetection(*coco_dataset_paths(name, root), with_masks=with_masks, mask_format=mask_format,
                         max_image_pixels=max_image_pixels, ground_truth=ground_truth)


def load_training_set(names, root: str = "", with_masks: bool = False, max_image_pixels: int = DEFAULT_MAX_PIXELS,
                      mask_format: str = "polygon"):
    """One dataset, or several with the same classes concatenated, without evaluation's ground truth."""
    datasets = [load_detection_dataset(n, root, with_masks, mask_format, max_image_pixels, ground_truth=False)
                for n in names]
    return datasets[0] if len(datasets) == 1 else ConcatDetection(datasets)
