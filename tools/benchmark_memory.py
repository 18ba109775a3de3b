#!/usr/bin/env python
"""Host memory at COCO's scale: the evaluation path and the training set's annotations.

    python tools/benchmark_memory.py eval --images 250 500 1000 2000 --keep-masks-images 100 250
    python tools/benchmark_memory.py annotations --workers 1 4 [--scale 0.1]

``eval``: peak resident memory of the real evaluation path (``COCOEvaluator``: per-image RLE
records, the gather, the atomic results file, COCOeval of boxes and masks) for N images of 480 x
640 with 100 masked detections each from a stand-in model that returns fixed (seeded) detections
near each image's ground truth. Beside it, the path before the engine issue, which kept every
image's pasted masks until the last image and encoded them then (``keep-masks``), and the
streaming path without its ``malloc_trim`` after each batch (``no-trim``). The per-image
growth is the slope of a least-squares line through the peaks; the COCO val2017 figure extrapolates
that line to 5,000 images.

``annotations``: a synthetic instances json of COCO train2017's size and shape (118,287 images,
860,001 polygon instances, about 1% crowd regions in RLE, 80 categories; ``--scale`` shrinks it),
loaded and checked by ``CocoDetection`` as a training set, beside detectron2's ``load_coco_json``
in the same run when detectron2 is importable; then ``--workers`` DataLoader workers each read
every image's training record once, and the proportional set size (PSS) of the main process and
its workers is summed: the memory the job holds. ``objects`` keeps the records as Python objects
with pycocotools' index, as the dataset did before they were serialised.

Every measurement runs in a fresh process, so one's peak does not hide the next one's.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HEIGHT, WIDTH, DETECTIONS, GT_PER_IMAGE, CATEGORIES = 480, 640, 100, 7, 80


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


# ---- evaluation --------------------------------------------------------------------------------
def _ground_truth(n_images: int) -> dict:
    rng = np.random.default_rng(0)
    images = [{"id": i + 1, "file_name": f"{i + 1}.jpg", "height": HEIGHT, "width": WIDTH} for i in range(n_images)]
    annotations = []
    for image in images:
        for _ in range(GT_PER_IMAGE):
            w, h = np.exp(rng.uniform(np.log(12), np.log(400), 2))
            x, y = rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"],
                                "category_id": int(rng.integers(1, CATEGORIES + 1)), "iscrowd": 0,
                                "bbox": [x, y, w, h], "area": w * h,
                                "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": c, "name": f"class{c}"} for c in range(1, CATEGORIES + 1)]}


def _stand_in_detections(image_id: int, gt: list[dict]):
    """100 detections near (and some far from) an image's ground truth, with filled-ellipse masks."""
    import torch

    from resnet_det.modeling.detection.structures import Instances
    rng = np.random.default_rng(image_id)
    near = [gt[k] for k in rng.integers(0, len(gt), DETECTIONS)]
    xywh = np.array([a["bbox"] for a in near]) * rng.uniform(0.85, 1.15, (DETECTIONS, 4))
    boxes = np.clip(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1), 0, [WIDTH, HEIGHT] * 2)
    boxes = torch.from_numpy(boxes).float()
    ys = torch.arange(HEIGHT, dtype=torch.float32)[None, :, None] + 0.5
    xs = torch.arange(WIDTH, dtype=torch.float32)[None, None, :] + 0.5
    centre, half = (boxes[:, :2] + boxes[:, 2:]) / 2, (boxes[:, 2:] - boxes[:, :2]).clamp(min=1) / 2
    # Ten at a time, so the float intermediates stay small beside what is measured.
    masks = torch.cat([(((xs - c[:, 0, None, None]) / r[:, 0, None, None]) ** 2
                        + ((ys - c[:, 1, None, None]) / r[:, 1, None, None]) ** 2) <= 1
                       for c, r in zip(centre.split(10), half.split(10))])
    labels = torch.tensor([a["category_id"] - 1 for a in near])
    return Instances(boxes, torch.from_numpy(rng.uniform(0.05, 1, DETECTIONS)).float(), labels, masks)


def eval_child(n_images: int, path: str, out_dir: Path) -> dict:
    import contextlib
    import io

    from pycocotools.coco import COCO

    from resnet_det.data.loaders.batches import DetectionBatch
    from resnet_det.evaluation import coco_evaluator as coco_module
    from resnet_det.evaluation.coco_evaluator import COCOEvaluator, ImageDetections
    from resnet_det.evaluation.evaluator import inference_on_dataset

    class KeepMasksEvaluator(COCOEvaluator):
        """Before the engine issue: every image's pasted masks kept, encoded after the last image."""

        def reset(self):
            super().reset()
            self._kept = []

        def process(self, inputs, outputs):
            self._kept += zip(inputs.targets, outputs)

        def evaluate(self):
            self._detections = [ImageDetections.from_instances(out, target["image_id"], self.category_ids)
                                for target, out in self._kept]
            return super().evaluate()

    coco = COCO()
    coco.dataset = _ground_truth(n_images)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    if path == "no-trim":  # the streaming path without handing freed heap pages back (glibc keeps them)
        coco_module.release_free_memory = lambda: False
    before = _peak_rss_mb()
    evaluator_class = KeepMasksEvaluator if path == "keep-masks" else COCOEvaluator
    evaluator = evaluator_class(coco, list(range(1, CATEGORIES + 1)), ("bbox", "segm"),
                                out_dir / "coco_instances_results.json")
    batches = [DetectionBatch([None], [{"image_id": i}]) for i in sorted(coco.imgs)]
    start = time.perf_counter()
    results = inference_on_dataset(lambda b: [_stand_in_detections(t["image_id"], coco.imgToAnns[t["image_id"]])
                                              for t in b.targets], batches, evaluator)
    return {"path": path, "images": n_images, "peak_rss_mb": _peak_rss_mb(), "before_mb": before,
            "seconds": time.perf_counter() - start, "box_AP": results["bbox"]["AP"], "mask_AP": results["segm"]["AP"]}


# ---- annotations -------------------------------------------------------------------------------
def write_synthetic_train2017(path: Path, scale: float) -> None:
    """COCO train2017's counts and shape: polygons of 4-50 points, ~1% crowd RLEs, 640 x 480-ish images."""
    rng = np.random.default_rng(0)
    n_images, n_annotations = round(118_287 * scale), round(860_001 * scale)
    per_image = np.bincount(rng.integers(0, n_images, n_annotations), minlength=n_images)
    with open(path, "w") as f:
        f.write('{"info": {"description": "synthetic, COCO train2017-sized"}, "images": [')
        sizes = []
        for i in range(n_images):
            h, w = (480, 640) if rng.random() < 0.6 else (int(rng.integers(240, 641)), int(rng.integers(240, 641)))
            sizes.append((h, w))
            f.write(("," if i else "") + json.dumps({"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "height": h,
                                                     "width": w}))
        f.write('], "annotations": [')
        ann_id = 0
        for i, count in enumerate(per_image):
            h, w = sizes[i]
            for _ in range(count):
                ann_id += 1
                bw, bh = rng.uniform(4, w / 2), rng.uniform(4, h / 2)
                x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
                ann = {"id": ann_id, "image_id": i + 1, "category_id": int(rng.integers(1, CATEGORIES + 1)),
                       "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)], "area": round(bw * bh, 2)}
                if rng.random() < 0.01:
                    runs = rng.integers(1, 400, 60)
                    ann["segmentation"] = {"size": [h, w], "counts": [*runs.tolist(), h * w - int(runs.sum())]}
                    ann["iscrowd"] = 1
                else:
                    points = int(rng.integers(4, 51))
                    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
                    xs, ys = x + bw / 2 * (1 + np.cos(angles)), y + bh / 2 * (1 + np.sin(angles))
                    ann["segmentation"] = [np.round(np.stack([xs, ys], 1).ravel(), 2).tolist()]
                    ann["iscrowd"] = 0
                f.write(("," if ann_id > 1 else "") + json.dumps(ann))
        f.write('], "categories": ' + json.dumps([{"id": c, "name": f"class{c}", "supercategory": "thing"}
                                                   for c in range(1, CATEGORIES + 1)]) + "}")


class _ReadAllRecords:
    """Item k: worker k reads every image's training record as ``target`` does before rasterising:
    the labels and every coordinate of every segmentation (pycocotools reads each to rasterise)."""

    def __init__(self, records, workers: int) -> None:
        self.records, self.workers = records, workers

    def __len__(self) -> int:
        return self.workers

    def __getitem__(self, k: int) -> int:
        instances = 0
        for i in range(len(self.records)):
            record = self.records[i]
            instances += len(record["labels"])
            for segmentation in record["segmentations"]:
                parts = segmentation if isinstance(segmentation, list) else [segmentation["counts"]]
                sum(sum(part) for part in parts)
        return instances


def annotations_child(json_file: Path, loader: str, workers: int) -> dict:
    import torch

    start = time.perf_counter()
    if loader == "detectron2":
        from detectron2.data.common import DatasetFromList
        from detectron2.data.datasets import load_coco_json
        records = DatasetFromList(load_coco_json(str(json_file), str(json_file.parent)), copy=False, serialize=True)
        records = _Detectron2Records(records)
    else:
        from resnet_det.data.datasets.coco import CocoDetection
        dataset = CocoDetection(json_file, json_file.parent, with_masks=True, mask_format="bitmask",
                                ground_truth=loader == "objects")
        records = dataset._records
        if loader == "objects":  # as before: Python objects beside pycocotools' index
            records = [records[i] for i in range(len(records))]
    load_seconds = time.perf_counter() - start
    main_pss = _pss_mb(os.getpid())
    data = torch.utils.data.DataLoader(_ReadAllRecords(records, workers), batch_size=None, num_workers=workers,
                                       persistent_workers=True)
    instances = list(data)
    pss = [_pss_mb(w.pid) for w in data._iterator._workers]  # alive: persistent
    return {"loader": loader, "workers": workers, "load_seconds": load_seconds, "peak_rss_mb": _peak_rss_mb(),
            "main_pss_mb": main_pss, "worker_pss_mb": pss, "total_pss_mb": _pss_mb(os.getpid()) + sum(pss),
            "instances_read": instances[0]}


class _Detectron2Records:
    """detectron2's dataset dicts as our records' ``labels`` and ``segmentations`` (crowds left out, as
    training leaves them out), for the same worker pass."""

    def __init__(self, records) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        annotations = [a for a in self.records[i]["annotations"] if not a.get("iscrowd", 0)]
        return {"labels": annotations, "segmentations": [a["segmentation"] for a in annotations]}


# ---- driver ------------------------------------------------------------------------------------
def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "child", *args], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"measurement {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _slope(rows: list[dict]) -> tuple[float, float]:
    """Least-squares (MB per image, MB at 0 images) of the peaks."""
    n = np.array([r["images"] for r in rows], dtype=float)
    slope, intercept = np.polyfit(n, [r["peak_rss_mb"] for r in rows], 1) if len(rows) > 1 else (np.nan, np.nan)
    return float(slope), float(intercept)


def bench_eval(args: argparse.Namespace) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, counts in (("streaming", args.images), ("no-trim", args.no_trim_images),
                             ("keep-masks", args.keep_masks_images)):
            for n in counts:
                rows.append(_child("eval", path, str(n), tmp))
                print(json.dumps(rows[-1]), flush=True)
    print("\n| path | images | peak host memory (MB) | seconds | box AP | mask AP |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['path']} | {r['images']} | {r['peak_rss_mb']:.0f} | {r['seconds']:.1f} | {r['box_AP']:.2f} | "
              f"{r['mask_AP']:.2f} |")
    for path in ("streaming", "no-trim", "keep-masks"):
        slope, intercept = _slope([r for r in rows if r["path"] == path])
        if np.isfinite(slope):
            print(f"{path}: {slope * 1024:.1f} KB per image; extrapolated to COCO val2017 (5,000 images): "
                  f"{(intercept + 5000 * slope) / 1024:.2f} GB")
    return rows


def bench_annotations(args: argparse.Namespace) -> list[dict]:
    default = Path(tempfile.gettempdir()) / f"resnet_det_synthetic_train2017_{args.scale}.json"
    json_file = Path(args.json_file or default)
    if not json_file.is_file():
        start = time.perf_counter()
        write_synthetic_train2017(json_file, args.scale)
        print(f"wrote {json_file} ({json_file.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s")
    loaders = ["ours", *args.also]
    try:
        import detectron2  # noqa: F401
        loaders.append("detectron2")
    except ImportError:
        print("detectron2 is not importable: its load_coco_json is left out")
    rows = []
    for loader in loaders:
        for workers in args.workers:
            rows.append(_child("annotations", str(json_file), loader, str(workers)))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| loader | workers | load + check (s) | peak RSS (MB) | main PSS (MB) | each worker PSS (MB) | "
          "total PSS (MB) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['loader']} | {r['workers']} | {r['load_seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r['main_pss_mb']:.0f} | {', '.join(f'{p:.0f}' for p in r['worker_pss_mb'])} | "
              f"{r['total_pss_mb']:.0f} |")
    for loader in loaders:
        totals = {r["workers"]: r["total_pss_mb"] for r in rows if r["loader"] == loader}
        if len(totals) > 1:
            low, high = min(totals), max(totals)
            print(f"{loader}: {high} workers hold {totals[high] / totals[low]:.2f}x the memory of {low}")
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "child":
        kind, *rest = argv[1:]
        if kind == "eval":
            row = eval_child(int(rest[1]), rest[0], Path(rest[2]))
        else:
            row = annotations_child(Path(rest[0]), rest[1], int(rest[2]))
        print(json.dumps(row))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="peak host memory of the evaluation path")
    ev.add_argument("--images", type=int, nargs="+", default=[250, 500, 1000, 2000])
    ev.add_argument("--keep-masks-images", type=int, nargs="*", default=[100, 250],
                    help="image counts for the keep-masks path (30 MB an image: keep them small)")
    ev.add_argument("--no-trim-images", type=int, nargs="*", default=[100, 250],
                    help="image counts for the streaming path without malloc_trim")
    an = sub.add_parser("annotations", help="load time and worker memory of a train2017-sized json")
    an.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    an.add_argument("--scale", type=float, default=1.0, help="fraction of train2017's images and instances")
    an.add_argument("--json-file", help="where the synthetic json is (written if absent)")
    an.add_argument("--also", nargs="*", default=[], choices=["objects"], help="more loaders to measure")
    for p in (ev, an):
        p.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    rows = bench_eval(args) if args.command == "eval" else bench_annotations(args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
