"""pycocotools' COCOeval over a test set a chunk of images at a time, with its numbers unchanged.

COCOeval holds every detection's result dict, its per-image-and-category IoUs and a dict of
matching arrays for every image, category and area range until it accumulates. Here each chunk
of images is loaded, matched and dropped, keeping of each per-image entry only the four arrays
``accumulate`` reads (scores, whether each detection matched and is ignored, whether each ground
truth is ignored), as booleans where only truth is read. The entries are then put back in
COCOeval's order (category, area range, image) and accumulated by COCOeval itself, so the
precision table, and every AP, equals a single COCOeval's (tested).
"""
from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def _results_coco(coco_gt: COCO, records: list[dict]) -> COCO:
    """``coco_gt.loadRes(records)``, which refuses an empty list: an image chunk may have no detections."""
    if records:
        return coco_gt.loadRes(records)
    empty = COCO()
    empty.dataset = {"images": coco_gt.dataset["images"], "categories": coco_gt.dataset["categories"],
                     "annotations": []}
    empty.createIndex()
    return empty


class _LeanEntry(Mapping):
    """The four arrays of a per-image entry that ``accumulate`` reads, in a slotted object (a
    quarter of COCOeval's dict of nine)."""

    __slots__ = ("dtIgnore", "dtMatches", "dtScores", "gtIgnore")

    def __init__(self, entry: dict) -> None:
        self.dtScores = np.asarray(entry["dtScores"], dtype=np.float64)
        self.dtMatches = entry["dtMatches"] != 0  # accumulate reads only whether a detection matched
        self.dtIgnore = entry["dtIgnore"].astype(bool)
        self.gtIgnore = np.asarray(entry["gtIgnore"]).astype(bool)

    def __getitem__(self, key: str) -> np.ndarray:
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.__slots__)

    def __len__(self) -> int:
        return len(self.__slots__)


def chunked_cocoeval(coco_gt: COCO, records_of: Callable[[Sequence[int]], list[dict]], iou_type: str,
                     images_per_chunk: int = 500) -> COCOeval:
    """A COCOeval of ``coco_gt``'s images, accumulated and summarised; ``records_of(image_ids)`` gives
    the result records of those images."""
    final = COCOeval(coco_gt, iouType=iou_type)
    params = final.params
    params.imgIds = list(np.unique(params.imgIds))
    params.catIds = list(np.unique(params.catIds))
    params.maxDets = sorted(params.maxDets)
    chunks = [params.imgIds[i:i + images_per_chunk] for i in range(0, len(params.imgIds), images_per_chunk)]
    parts = []
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its progress and tables
        for image_ids in chunks:
            evaluator = COCOeval(coco_gt, _results_coco(coco_gt, records_of(image_ids)), iou_type)
            evaluator.params.imgIds = image_ids
            evaluator.evaluate()
            parts.append([None if e is None else _LeanEntry(e) for e in evaluator.evalImgs])
            del evaluator
        areas = len(params.areaRng)
        final.evalImgs = [entry for k in range(len(params.catIds)) for a in range(areas)
                          for part, ids in zip(parts, chunks)
                          for entry in part[(k * areas + a) * len(ids):(k * areas + a + 1) * len(ids)]]
        final._paramsEval = copy.deepcopy(params)
        final.accumulate()
        final.summarize()
    return final
