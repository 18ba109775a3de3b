"""PASCAL VOC detection annotations (xml) as detector targets, with the ``difficult`` flag."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import torch

from resnet_det.data.cls_transforms import read_rgb
from resnet_det.data.paths import DatasetNotFoundError

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")


class VOCAnnotationError(ValueError):
    """A VOC xml file that cannot be used; the message names the file and the problem."""


def find_voc_year(root: Path, year: str) -> Path:
    """``root/VOC<year>`` or ``root/VOCdevkit/VOC<year>``."""
    for candidate in (root / f"VOC{year}", root / "VOCdevkit" / f"VOC{year}"):
        if candidate.is_dir():
            return candidate
    raise DatasetNotFoundError(f"PASCAL VOC {year} not found: looked for {root / f'VOC{year}'} and "
                               f"{root / 'VOCdevkit' / f'VOC{year}'} (set $RESNET_DET_DATASETS or DATASETS.ROOT)")


def parse_voc_xml(path: Path) -> dict:
    """``{"width", "height", "boxes" (0-based pixel edges), "labels", "difficult"}`` of one xml file.

    VOC boxes are 1-based inclusive pixel indices; ``xmin - 1, ymin - 1, xmax, ymax`` are the
    pixel edges (detectron2 converts them the same way).
    """
    try:
        root = ET.parse(path).getroot()
        size = root.find("size")
        width, height = int(size.find("width").text), int(size.find("height").text)
        boxes, labels, difficult = [], [], []
        for obj in root.findall("object"):
            name = obj.find("name").text.strip()
            if name not in VOC_CLASSES:
                raise VOCAnnotationError(f"{path}: unknown class {name!r}")
            bb = obj.find("bndbox")
            x1, y1, x2, y2 = (float(bb.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes.append([x1 - 1, y1 - 1, x2, y2])
            labels.append(VOC_CLASSES.index(name))
            flag = obj.find("difficult")
            difficult.append(flag is not None and int(flag.text) == 1)
    except ET.ParseError as e:
        raise VOCAnnotationError(f"{path}: malformed xml ({e})") from None
    except (AttributeError, TypeError, ValueError) as e:
        if isinstance(e, VOCAnnotationError):
            raise
        raise VOCAnnotationError(f"{path}: missing or malformed field ({e})") from None
    return {"width": width, "height": height, "boxes": boxes, "labels": labels, "difficult": difficult}


class VOCDetection:
    """The images of ``ImageSets/Main/<split>.txt`` of one VOC year, with their targets."""

    classes = VOC_CLASSES

    def __init__(self, root: Path, year: str, split: str) -> None:
        self.year = year
        self.year_dir = find_voc_year(Path(root), year)
        ids_file = self.year_dir / "ImageSets" / "Main" / f"{split}.txt"
        if not ids_file.is_file():
            raise DatasetNotFoundError(f"VOC{year} split list not found: {ids_file}")
        self.ids = [line.strip() for line in ids_file.read_text().splitlines() if line.strip()]
        self.annotations = [parse_voc_xml(self.year_dir / "Annotations" / f"{i}.xml") for i in self.ids]

    def __len__(self) -> int:
        return len(self.ids)

    def has_usable_boxes(self, index: int) -> bool:
        return any(x2 > x1 and y2 > y1 for x1, y1, x2, y2 in self.annotations[index]["boxes"])

    def is_landscape(self, index: int) -> bool:
        """Whether image ``index`` is wider than tall, from its xml."""
        return self.annotations[index]["width"] > self.annotations[index]["height"]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        ann = self.annotations[index]
        image = torch.from_numpy(read_rgb(self.year_dir / "JPEGImages" / f"{self.ids[index]}.jpg")).permute(2, 0, 1)
        return image, {"boxes": torch.tensor(ann["boxes"], dtype=torch.float32).reshape(-1, 4),
                       "labels": torch.tensor(ann["labels"], dtype=torch.int64),
                       "difficult": torch.tensor(ann["difficult"], dtype=torch.bool), "image_id": self.ids[index]}
