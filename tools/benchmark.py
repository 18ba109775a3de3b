#!/usr/bin/env python
"""Throughput of our models against their peers, measured in the same process on the same device.

    python tools/benchmark.py cls --device cuda --precision bf16 --channels-last --json out.json
    python tools/benchmark.py cls --device cpu --batch 8 --size 64 --iters 3   # a smoke run
    python tools/benchmark.py det --device cuda --precision bf16 [--mask] --json det.json

``cls``: ResNet classification training (forward, backward, SGD step) and inference in images/s,
ours beside torchvision's model of the same depth (same stride placement, precision and layout),
on synthetic input; with ``--data``, also our training fed by image files through the trainer's loader,
and that loader alone (``load``: whether the host can keep up).

``det``: C4 Faster (or, with ``--mask``, Mask) R-CNN training (8 images of 800 x 1067 a step by
default) and inference at batch 1 and 8, on synthetic images with random boxes, ours beside
detectron2's stock R-C4 model of the same depth when detectron2 is importable. Both use
detectron2's default proposal and RoI counts unless ``--train-rois`` / ``--test-proposals`` change
them for both (RPN NMS off, so both keep exactly the post-NMS top-k)
and keep every detection up to 100 per image (score threshold 0), so both do the same work whatever
their random weights score; neither resizes. The ``syncs`` column counts the device-to-host reads
of one step (nonzero, boolean indexing, ``.item()``, NMS): each stalls a GPU until its queue drains.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
import torchvision

from resnet_det import build_model
from resnet_det.data.loaders.batches import ImageBatch
from resnet_det.data.loaders.image_files import FileBatches
from resnet_det.data.loaders.sample_augment import SampleAugment
from resnet_det.modeling.norm import calibrate_frozen_norms
from resnet_det.modeling.preprocess import Normalize
from resnet_det.utils.syncs import HostSyncCounter

if TYPE_CHECKING:
    from resnet_det.data.loaders.detection import DetectionBatches


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], None], device: torch.device, warmup: int, iters: int) -> float:
    """Seconds per call of ``step`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _sync(device)
    return (time.perf_counter() - start) / iters


def time_rounds(steps: dict[tuple, Callable[[], None]], device: torch.device, warmup: int, iters: int,
                repeats: int) -> dict[tuple, list[float]]:
    """Seconds per call of each step, ``repeats`` times over: after ``warmup`` untimed calls of every
    step, each round times ``iters`` calls of every step in turn. Interleaved so, a clock or a
    machine that drifts during the run widens each step's spread instead of skewing one
    contender against the other."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    seconds: dict[tuple, list[float]] = {key: [] for key in steps}
    for _ in range(repeats):
        for key, step in steps.items():
            seconds[key].append(time_steps(step, device, 0, iters))
    return seconds


def time_all(steps: dict[tuple, Callable[[], None]], device: torch.device,
             args: argparse.Namespace) -> dict[tuple, list[float]]:
    """:func:`time_rounds` over the synthetic-input steps, then over those fed by files (keys
    holding ``train_files``). A loader's workers start at its first batch, so they never take CPU
    from the synthetic steps while those are timed."""
    fed = {key: step for key, step in steps.items() if "train_files" in key}
    synthetic = {key: step for key, step in steps.items() if key not in fed}
    return (time_rounds(synthetic, device, args.warmup, args.iters, args.repeats)
            | time_rounds(fed, device, args.warmup, args.iters, args.repeats))


def timing_fields(batch: int, seconds: list[float]) -> dict[str, float]:
    """A row's speed from its rounds: the median, and the spread of the rounds around it."""
    median = statistics.median(seconds)
    return {"images_per_s": batch / median, "ms_per_batch": 1000 * median,
            "spread": (max(seconds) - min(seconds)) / median, "rounds_s": seconds}


def load_row(batches: Iterator, model: str, batch: int, device: torch.device, args: argparse.Namespace,
             **fields) -> dict:
    """The ``load`` row: how fast a fresh pipeline delivers ``batches`` with no model to feed, what
    bounds ``train_files`` when it trails ``train``. Its first round of batches, one per worker,
    all start at once and are not timed; the workers stop before this returns."""
    try:
        seconds = time_steps(lambda: next(batches), device, max(args.workers, 1), args.iters)
    finally:
        batches.close()
    return {"model": model, "impl": "resnet_det", "mode": "load", "batch": batch, **fields,
            "images_per_s": batch / seconds, "ms_per_batch": 1000 * seconds}


def classification_steps(model: torch.nn.Module, logits: Callable, batch: int, size: int, device: torch.device,
                         precision: str, channels_last: bool,
                         files: Iterator[ImageBatch] | None = None
                         ) -> dict[str, Callable[[], None]]:
    """A training step and an inference step on fixed random data; with ``files`` (uint8 batches
    from the real pipeline), also a training step on those, normalised on the device as the trainer does."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    normalize = Normalize("torchvision").to(device)

    def train(x: torch.Tensor = x, y: torch.Tensor = y) -> None:
        model.train()
        with amp:
            loss = F.cross_entropy(logits(model, x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def infer() -> None:
        model.eval()
        with amp:
            logits(model, x)

    def train_files() -> None:
        batch = next(files)
        train(normalize(batch.images).contiguous(memory_format=fmt), batch.labels)

    steps = {"train": train, "infer": infer}
    if files is not None:
        steps["train_files"] = train_files
    return steps


def image_folder_source(root: str, batch: int, size: int, workers: int, device: torch.device,
                        decode_on_device: bool = False, v2_recipe: bool = False) -> FileBatches:
    """The ImageNet recipe's training pipeline (JPEG decode, shorter side at random in [256, 480],
    ``size`` crop, flip) over ``root/<class>/<image>``, in ``workers`` DataLoader processes (which
    only read the JPEGs when ``decode_on_device``). The folder is listed once; each ``iterate``
    starts fresh workers."""
    paths = sorted(p for p in Path(root).glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise SystemExit(f"--data {root}: no class folders of .jpg/.jpeg/.png images")
    classes = sorted({p.parent.name for p in paths})
    labels = [classes.index(p.parent.name) % 1000 for p in paths]
    if len(paths) < batch:  # a sample folder: decoding the same files again costs the same
        copies = -(-batch // len(paths))
        print(f"--data {root}: {len(paths)} images, fewer than a batch; each is used {copies} times per pass",
              file=sys.stderr)
        paths, labels = paths * copies, labels * copies
    if v2_recipe:  # torchvision's V2 recipe: RandomResizedCrop, TrivialAugmentWide, random erasing 0.1
        return FileBatches(paths, labels, batch, seed=0, shorter_side=(256,), sampling="choice", crop=size, flip=True,
                           device=device, num_workers=workers, crop_mode="random_resized",
                           augment=SampleAugment("trivial_wide", 0.1, (124, 116, 104)))
    return FileBatches(paths, labels, batch, seed=0, shorter_side=(256, 480), sampling="range", crop=size,
                       flip=True, device=device, num_workers=workers, decode_on_device=decode_on_device)


def bench_cls(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    contenders = {
        "resnet_det": (build_model(f"resnet{args.depth}"), lambda m, x: m(x)),
        "torchvision": (getattr(torchvision.models, f"resnet{args.depth}")(), lambda m, x: m(x)),
    }
    rows = []
    source = None
    if args.data:
        source = image_folder_source(args.data, args.batch, args.size, args.workers, device, args.decode_on_device)
        rows.append(load_row(source.iterate(0), "image_folder", args.batch, device, args, size=args.size))
        if args.v2_augment:
            v2_source = image_folder_source(args.data, args.batch, args.size, args.workers, device, v2_recipe=True)
            rows.append(load_row(v2_source.iterate(0), "image_folder_v2_augment", args.batch, device, args,
                                 size=args.size))
    steps = {}
    for name, (model, logits) in contenders.items():
        if args.compile:
            model = torch.compile(model)
        files = source.iterate(0) if source is not None and name == "resnet_det" else None
        for mode, step in classification_steps(model, logits, args.batch, args.size, device, args.precision,
                                               args.channels_last, files).items():
            steps[name, mode] = step
    seconds = time_all(steps, device, args)
    for name, mode in steps:
        rows.append({"model": f"resnet{args.depth}", "impl": name, "mode": mode, "batch": args.batch,
                     "size": args.size, "precision": args.precision, "channels_last": args.channels_last,
                     "compile": args.compile, **timing_fields(args.batch, seconds[name, mode])})
    return rows


# Random weights score proposals differently in each library, so NMS would keep different numbers
# of them and res5 (run once per RoI) would get different work. With no suppression both keep
# exactly the post-NMS top-k (1000 at test, 2000 in training); the NMS itself still runs.
_NO_SUPPRESSION = 1.0


def _random_targets(batch: int, height: int, width: int, mask: bool, device: torch.device,
                    generator: torch.Generator) -> list[dict[str, torch.Tensor]]:
    """Eight random boxes per image, with filled-box masks when ``mask``."""
    targets = []
    for _ in range(batch):
        xy = torch.rand(8, 2, generator=generator) * torch.tensor([width * 0.7, height * 0.7])
        wh = (0.1 + 0.2 * torch.rand(8, 2, generator=generator)) * torch.tensor([width, height])
        boxes = torch.cat([xy, xy + wh], 1).round()
        t = {"boxes": boxes.to(device), "labels": torch.randint(0, 80, (8,), generator=generator).to(device)}
        if mask:
            m = torch.zeros(8, height, width, dtype=torch.uint8)
            for i, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
                m[i, y1:y2, x1:x2] = 1
            t["masks"] = m.to(device)
        targets.append(t)
    return targets


def _ours(args: argparse.Namespace, device: torch.device) -> tuple[torch.nn.Module, Callable, Callable]:
    from resnet_det.config import load_config
    from resnet_det.modeling.detection.rcnn import build_detector
    cfg = load_config(None, ["MODEL.RESNETS.DEPTH", str(args.depth), "MODEL.MASK_ON", str(args.mask),
                             "INPUT.MIN_SIZE_TRAIN", f"({min(args.height, args.width)},)",
                             "INPUT.MIN_SIZE_TEST", str(min(args.height, args.width)),
                             "INPUT.MAX_SIZE_TRAIN", str(max(args.height, args.width)),
                             "INPUT.MAX_SIZE_TEST", str(max(args.height, args.width)),
                             "SOLVER.AMP.ENABLED", str(args.precision == "bf16"),
                             "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
                             "MODEL.RPN.NMS_THRESH", str(_NO_SUPPRESSION),
                             "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", str(args.train_rois),
                             "MODEL.RPN.POST_NMS_TOPK_TEST", str(args.test_proposals)])
    model = build_detector(cfg).to(device)
    if device.type == "cuda":  # as the trainer runs it
        model = model.to(memory_format=torch.channels_last)
    if args.compile:  # as MODEL.COMPILE.ENABLED does
        model.roi_heads.res5.compile(dynamic=True)
    return (model, lambda images, targets: sum(model(images, targets).values()),
            lambda images: model(images))


def _detectron2(args: argparse.Namespace, device: torch.device) -> tuple[torch.nn.Module, Callable, Callable] | None:
    try:
        from detectron2.config import get_cfg
        from detectron2.modeling import build_model as build_d2
        from detectron2.structures import BitMasks, Boxes, Instances
        from detectron2.utils.events import EventStorage
    except ImportError:
        return None
    kind = "COCO-InstanceSegmentation/mask_rcnn" if args.mask else "COCO-Detection/faster_rcnn"
    config = Path(args.detectron2_configs) / f"{kind}_R_{args.depth}_C4_3x.yaml"
    if not config.is_file():
        print(f"no stock detectron2 config {config} (see --detectron2-configs)", file=sys.stderr)
        return None
    cfg = get_cfg()
    cfg.merge_from_file(str(config))
    cfg.MODEL.DEVICE = device.type
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    cfg.MODEL.RPN.NMS_THRESH = _NO_SUPPRESSION
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE, cfg.MODEL.RPN.POST_NMS_TOPK_TEST = args.train_rois, args.test_proposals
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = min(args.height, args.width), max(args.height, args.width)
    model = build_d2(cfg)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    def inputs(images: list[torch.Tensor], targets: list[dict] | None = None) -> list[dict]:
        records = []
        for i, image in enumerate(images):
            record = {"image": image, "height": image.shape[1], "width": image.shape[2]}
            if targets is not None:
                inst = Instances(image.shape[1:], gt_boxes=Boxes(targets[i]["boxes"]), gt_classes=targets[i]["labels"])
                if "masks" in targets[i]:
                    inst.gt_masks = BitMasks(targets[i]["masks"].bool())
                record["instances"] = inst
            records.append(record)
        return records

    def loss(images, targets):
        with amp, EventStorage(0):  # detectron2's losses log into an event storage
            return sum(model(inputs(images, targets)).values())

    def infer(images):
        with amp:
            return model(inputs(images))
    return model, loss, infer


def coco_source(args: argparse.Namespace, device: torch.device) -> DetectionBatches:
    """The detection trainer's pipeline over a COCO-format set: decode and flip in ``--workers``
    processes, then resized on the device to ``--height x --width``'s short side. The annotations
    are parsed once; each ``iterate`` starts fresh workers."""
    from resnet_det.data.datasets.coco import CocoDetection
    from resnet_det.data.loaders.detection import DetectionBatches
    dataset = CocoDetection(args.coco[0], args.coco[1], with_masks=args.mask, mask_format="bitmask")
    return DetectionBatches(dataset, args.coco[0], args.train_batch, seed=0, flip=True,
                            min_sizes=(min(args.height, args.width),), sampling="choice", device=device,
                            num_workers=args.workers)


def detector_steps(contenders: dict, images: list[torch.Tensor], targets: list[dict], source: Any,
                   args: argparse.Namespace) -> dict:
    """``{(implementation, mode, batch): callable}`` of one timed call each: a training step on the
    random batch (and, for ours with ``--coco``, on the real pipeline's), and inference per batch size."""
    steps = {}
    for name, (model, loss_of, infer) in contenders.items():
        # Identity frozen norms let random activations grow until every RPN box decodes outside the
        # image: no proposals, no head work. Calibrated, the heads get their real workload.
        model.eval()
        calibrate_frozen_norms(model, lambda infer=infer: infer(images[:1]))
        # lr 0: the update is computed in full but leaves the random weights alone, so activations
        # stay as finite as in the first step however long the benchmark runs.
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0, momentum=0.9)

        def train(batch_images: list[torch.Tensor] = images[:args.train_batch], batch_targets: list[dict] = targets,
                  model: torch.nn.Module = model, loss_of: Callable = loss_of,
                  opt: torch.optim.Optimizer = opt) -> None:
            model.train()
            loss = loss_of(batch_images, batch_targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        steps[name, "train", args.train_batch] = train
        if source is not None and name == "resnet_det":
            files = source.iterate(0)

            def train_files(train: Callable = train, files: Iterator = files) -> None:
                batch = next(files)
                train(batch.images, batch.targets)

            steps[name, "train_files", args.train_batch] = train_files
        for n in args.infer_batches:
            steps[name, "infer", n] = lambda n=n, model=model, infer=infer: (model.eval(),
                                                                            torch.no_grad()(infer)(images[:n]))
    return steps


def bench_det(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    generator = torch.Generator().manual_seed(0)
    batch = max(args.train_batch, *args.infer_batches)
    images = [torch.randint(0, 256, (3, args.height, args.width), dtype=torch.uint8, generator=generator).to(device)
              for _ in range(batch)]
    targets = _random_targets(args.train_batch, args.height, args.width, args.mask, device, generator)
    contenders = {"resnet_det": _ours(args, device)}
    peer = _detectron2(args, device)
    if peer is None:
        print("no detectron2 peer (not importable, or no stock config): measuring resnet_det alone", file=sys.stderr)
    else:
        contenders["detectron2"] = peer
    rows = []
    source = coco_source(args, device) if args.coco else None
    if source is not None:
        rows.append(load_row(source.iterate(0), "coco", args.train_batch, device, args, height=args.height,
                             width=args.width))
    steps = detector_steps(contenders, images, targets, source, args)
    model_name = f"{'mask' if args.mask else 'faster'}_rcnn_R{args.depth}_C4"
    seconds = time_all(steps, device, args)
    for name, mode, n in steps:
        with HostSyncCounter() as syncs:  # one more step, untimed: counting slows it
            steps[name, mode, n]()
        rows.append({"model": model_name, "impl": name, "mode": mode, "batch": n, "height": args.height,
                     "width": args.width, "precision": args.precision, "compile": args.compile and name == "resnet_det",
                     **timing_fields(n, seconds[name, mode, n]), "host_syncs": syncs.total})
    return rows


def compare_file_pipeline(rows: list[dict]) -> None:
    """Add ``of_synthetic`` to each ``train_files`` and ``load`` row: its speed over the same
    implementation's synthetic-input training (a ``load`` under 1 means the host bounds training)."""
    synthetic = {r["impl"]: r["images_per_s"] for r in rows if r["mode"] == "train"}
    what = {"train_files": "fed by the files, training runs", "load": "the file pipeline alone delivers"}
    for r in rows:
        if r["mode"] in what:
            r["of_synthetic"] = r["images_per_s"] / synthetic[r["impl"]]
            print(f"{r['impl']}: {what[r['mode']]} at {r['of_synthetic']:.3f} of its synthetic-input training speed")


def print_table(rows: list[dict], peer_name: str) -> None:
    """One line per measurement: the median of its rounds; ``spread``: (slowest - fastest round) /
    median; ``syncs``: device-to-host reads in one step (see utils/syncs.py)."""
    peer = {(r["mode"], r["batch"]): r["images_per_s"] for r in rows if r["impl"] == peer_name}
    print(f"{'impl':<12} {'mode':<11} {'batch':>5} {'images/s':>10} {'ms/batch':>9} {'spread':>7} {'ours/peer':>9} "
          f"{'syncs':>6}")
    for r in rows:
        key = (r["mode"], r["batch"])
        ratio = f"{r['images_per_s'] / peer[key]:.3f}" if r["impl"] == "resnet_det" and key in peer else "-"
        spread = f"{100 * r['spread']:.1f}%" if "spread" in r else "-"
        print(f"{r['impl']:<12} {r['mode']:<11} {r['batch']:>5} {r['images_per_s']:>10.4g} {r['ms_per_batch']:>9.1f} "
              f"{spread:>7} {ratio:>9} {r.get('host_syncs', '-'):>6}")


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``cls`` and ``det`` with their sizes, precision, peers and timing rounds."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cls = sub.add_parser("cls", help="classification training/inference, ours vs torchvision")
    cls.add_argument("--depth", type=int, default=101, choices=[18, 34, 50, 101, 152])
    cls.add_argument("--batch", type=int, default=256)
    cls.add_argument("--size", type=int, default=224)
    cls.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    cls.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    cls.add_argument("--channels-last", action="store_true")
    cls.add_argument("--compile", action="store_true")
    cls.add_argument("--data", help="a folder of class folders of images (ImageNet's train/): also time our "
                                    "training fed by the real decode-and-augment pipeline (mode train_files) and the "
                                    "pipeline alone (mode load)")
    cls.add_argument("--workers", type=int, default=os.cpu_count(), help="DataLoader processes for --data")
    cls.add_argument("--decode-on-device", action="store_true",
                     help="--data's JPEGs decoded and augmented on --device (DATALOADER.DECODE_ON_DEVICE)")
    cls.add_argument("--v2-augment", action="store_true",
                     help="with --data, also time the pipeline with torchvision's V2 recipe's augmentations")
    cls.add_argument("--warmup", type=int, default=5)
    cls.add_argument("--iters", type=int, default=20, help="timed calls per round")
    cls.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds; rows give their median")
    cls.add_argument("--json", help="also write the rows here")
    det = sub.add_parser("det", help="C4 detector training/inference, ours vs detectron2")
    det.add_argument("--depth", type=int, default=101, choices=[18, 34, 50, 101, 152])
    det.add_argument("--mask", action="store_true", help="Mask R-CNN instead of Faster R-CNN")
    det.add_argument("--height", type=int, default=800)
    det.add_argument("--width", type=int, default=1067)
    det.add_argument("--train-batch", type=int, default=8)
    det.add_argument("--infer-batches", type=int, nargs="+", default=[1, 8])
    det.add_argument("--train-rois", type=int, default=512, help="RoIs sampled per training image (both libraries)")
    det.add_argument("--test-proposals", type=int, default=1000, help="proposals per test image (both libraries)")
    det.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    det.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    det.add_argument("--compile", action="store_true", help="torch.compile our res5 head (MODEL.COMPILE)")
    det.add_argument("--detectron2-configs", default="configs",
                     help="detectron2's configs/ folder (its source checkout), for the peer's stock models")
    det.add_argument("--coco", nargs=2, metavar=("JSON", "IMAGES"),
                     help="a COCO-format set: also time our training fed by the real pipeline (mode train_files) "
                          "and the pipeline alone (mode load)")
    det.add_argument("--workers", type=int, default=os.cpu_count(), help="DataLoader processes for --coco")
    det.add_argument("--warmup", type=int, default=3)
    det.add_argument("--iters", type=int, default=10, help="timed calls per round")
    det.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds; rows give their median")
    det.add_argument("--json", help="also write the rows here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.device.startswith("cuda"):
        # Random weights drift activations into the denormal range, where this x86 CPU ran 9x
        # slower (R50-C4 inference on 128 x 160, measured with RPN NMS still on: 2.26 s vs 0.26 s
        # per image). Set for every contender, before any op runs.
        torch.set_flush_denormal(True)
    rows = bench_cls(args) if args.command == "cls" else bench_det(args)
    compare_file_pipeline(rows)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "CPU"
    print(f"device: {device}; torch {torch.__version__}, torchvision {torchvision.__version__}")
    print_table(rows, "torchvision" if args.command == "cls" else "detectron2")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "torch": torch.__version__, "torchvision": torchvision.__version__,
                       "args": vars(args), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
