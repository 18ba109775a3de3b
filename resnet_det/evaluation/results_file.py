"""Reading a COCO results file that another program wrote, checked before COCOeval sees it.

COCOeval trusts its input: a string box raises deep inside it, a list ``image_id`` or a NaN score
gives nonsense, and detections of unknown categories or masks encoded at another size than their
image are silently ignored or misread, so a wrong file scores an AP of 0 instead of an error.
Each such record is an error here naming the file, the record and the problem.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pycocotools.coco import COCO

from resnet_det.errors import UserError

_FIELDS = ("image_id", "category_id", "bbox", "score")
_EXAMPLES = 3


class ResultsFormatError(UserError, ValueError):
    """A results file that cannot be scored; the message names the file, the record and the problem."""


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _record_problem(record: Any, coco: COCO) -> str | None:
    if not isinstance(record, dict) or not all(k in record for k in _FIELDS):
        return f"is not an object with {', '.join(_FIELDS)}"
    if not _is_int(record["image_id"]):
        return f"image_id {record['image_id']!r} is not an integer"
    if record["image_id"] not in coco.imgs:
        return f"image_id {record['image_id']} is not an image of the dataset (results of another set?)"
    if not _is_int(record["category_id"]) or record["category_id"] not in coco.cats:
        return (f"category_id {record['category_id']!r} is not a category of the dataset (its ids: "
                f"{min(coco.cats)}..{max(coco.cats)}; contiguous 0-based labels instead of the dataset's ids?)")
    box = record["bbox"]
    if not (isinstance(box, list) and len(box) == 4 and all(_is_finite(v) for v in box)):
        return f"bbox {box!r} is not four finite numbers [x, y, width, height]"
    if not _is_finite(record["score"]):
        return f"score {record['score']!r} is not a finite number"
    return _mask_problem(record.get("segmentation"), coco.imgs[record["image_id"]])


def _mask_problem(segmentation: Any, image: dict) -> str | None:
    if segmentation is None:
        return None
    size = segmentation.get("size") if isinstance(segmentation, dict) else None
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(s) for s in size)
            and isinstance(segmentation.get("counts"), str)):
        return "segmentation is not a compressed RLE ({'size': [height, width], 'counts': str})"
    if size != [image["height"], image["width"]]:
        return (f"its mask is encoded at {size[0]} x {size[1]} but image {image['id']} is {image['height']} x "
                f"{image['width']} (masks must be pasted into the image at its original size)")
    return None


def read_results(path: str | Path, coco: COCO) -> list[dict]:
    """The records of the COCO results file ``path`` for the ground truth ``coco``; every problem a
    :class:`ResultsFormatError` that names the first few records that have it."""
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ResultsFormatError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(records, list):
        raise ResultsFormatError(f"{path}: expected a list of COCO result records, found a {type(records).__name__}")
    problems = [(n, p) for n, r in enumerate(records) if (p := _record_problem(r, coco))]
    if problems:
        shown = "; ".join(f"record {n}: {p}" for n, p in problems[:_EXAMPLES])
        raise ResultsFormatError(f"{path}: {len(problems)} of {len(records)} records cannot be scored ({shown})")
    if any("segmentation" in r for r in records) and not all("segmentation" in r for r in records):
        raise ResultsFormatError(f"{path}: some records have a segmentation and others not; mask AP needs all")
    return records
