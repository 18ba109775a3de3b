"""PASCAL VOC detection annotations (xml) as detector targets, with the ``difficult`` flag."""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import torch

from resnet_det.data.datasets.boxes import clip_xyxy
from resnet_det.data.datasets.detection_table import DetectionTable
from resnet_det.data.datasets.paths import DatasetNotFoundError
from resnet_det.data.datasets.serialized import SerializedList
from resnet_det.data.decode.files import DEFAULT_MAX_PIXELS, read_rgb
from resnet_det.errors import UserError
from resnet_det.utils.geometry import hwc_to_chw

logger = logging.getLogger(__name__)
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")


class VOCAnnotationError(UserError, ValueError):
    """A VOC xml file that cannot be used; the message names the file and the problem."""


def find_voc_year(root: Path, year: str) -> Path:
    """``root/VOC<year>`` or ``root/VOCdevkit/VOC<year>``."""
    for candidate in (root / f"VOC{year}", root / "VOCdevkit" / f"VOC{year}"):
        if candidate.is_dir():
            return candidate
    raise DatasetNotFoundError(f"PASCAL VOC {year} not found: looked for {root / f'VOC{year}'} and "
                               f"{root / 'VOCdevkit' / f'VOC{year}'} (set $RESNET_DET_DATASETS or DATASETS.ROOT)")


def parse_voc_xml(path: Path, counts: Counter | None = None) -> dict:
    """``{"width", "height", "boxes" (0-based pixel edges), "labels", "difficult"}`` of one xml file.

    VOC boxes are 1-based inclusive pixel indices; ``xmin - 1, ymin - 1, xmax, ymax`` are the
    pixel edges (detectron2 converts them the same way). Boxes are clipped to the image; objects
    of an unknown class or with no area inside the image are dropped, counted in ``counts``.
    """
    counts = Counter() if counts is None else counts
    try:
        root = ET.parse(path).getroot()
        size = root.find("size")
        width, height = int(size.find("width").text), int(size.find("height").text)
        if width <= 0 or height <= 0:
            raise VOCAnnotationError(f"{path}: image size {width} x {height} is not positive")
        boxes, labels, difficult = [], [], []
        for obj in root.findall("object"):
            name = obj.find("name").text.strip()
            if name not in VOC_CLASSES:
                counts[f"unknown class {name!r}"] += 1
                continue
            bb = obj.find("bndbox")
            x1, y1, x2, y2 = (float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            box = clip_xyxy(x1 - 1, y1 - 1, x2, y2, width, height)
            if box is None:
                counts["box without area in the image"] += 1
                continue
            if box != [x1 - 1, y1 - 1, x2, y2]:
                counts["box clipped to the image"] += 1
            boxes.append(box)
            labels.append(VOC_CLASSES.index(name))
            flag = obj.find("difficult")
            difficult.append(flag is not None and int(flag.text) == 1)
    except FileNotFoundError:
        raise VOCAnnotationError(f"{path}: annotation file missing") from None
    except ET.ParseError as e:
        raise VOCAnnotationError(f"{path}: malformed xml ({e})") from None
    except (AttributeError, TypeError, ValueError) as e:
        if isinstance(e, VOCAnnotationError):
            raise
        raise VOCAnnotationError(f"{path}: missing or malformed field ({e})") from None
    return {"width": width, "height": height, "boxes": boxes, "labels": labels, "difficult": difficult}


class VOCDetection(DetectionTable):
    """The images of ``ImageSets/Main/<split>.txt`` of one VOC year, with their targets (parsed once,
    held in a :class:`SerializedList`)."""

    classes = VOC_CLASSES

    def __init__(self, root: Path, year: str, split: str, max_image_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.year = year
        self.year_dir = find_voc_year(Path(root), year)
        ids_file = self.year_dir / "ImageSets" / "Main" / f"{split}.txt"
        if not ids_file.is_file():
            raise DatasetNotFoundError(f"VOC{year} split list not found: {ids_file}")
        listed = [line.strip() for line in ids_file.read_text().splitlines() if line.strip()]
        self.ids = list(dict.fromkeys(listed))  # a repeated id would count its objects twice in evaluation
        if len(self.ids) < len(listed):
            logger.warning("%s: %d repeated image ids ignored", ids_file, len(listed) - len(self.ids))
        counts: Counter = Counter()
        parsed = [parse_voc_xml(self.year_dir / "Annotations" / f"{i}.xml", counts) for i in self.ids]
        # Sizes in an array and the rest in one shared buffer, so loader workers do not copy them.
        self._set_table([(a["height"], a["width"]) for a in parsed], [len(a["boxes"]) for a in parsed])
        self.annotations = SerializedList(parsed)
        if counts:
            logger.warning("VOC%s %s: %s", year, split, ", ".join(f"{v} x {k}" for k, v in counts.items()))
        self.max_image_pixels = max_image_pixels

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, index: int) -> Path:
        return self.year_dir / "JPEGImages" / f"{self.ids[index]}.jpg"

    def read_image(self, index: int) -> torch.Tensor:
        """The 3 x H x W uint8 image, checked against the xml's size (raises ImageDecodeError)."""
        image = read_rgb(self.image_path(index), expected_size=self.image_size(index), max_pixels=self.max_image_pixels)
        return hwc_to_chw(image)

    def target(self, index: int) -> dict:
        ann = self.annotations[index]
        return {"boxes": torch.tensor(ann["boxes"], dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(ann["labels"], dtype=torch.int64),
                "difficult": torch.tensor(ann["difficult"], dtype=torch.bool), "image_id": self.ids[index]}

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        return self.read_image(index), self.target(index)
