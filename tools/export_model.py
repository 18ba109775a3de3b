#!/usr/bin/env python
"""Export a trained detector or classifier to a ``torch.export`` program (``model.pt2``) and to ONNX
(``model.onnx``), each checked against eager PyTorch on real images before it is written.

    python tools/export_model.py --config demo --weights output/demo/model_final.pth --output exported/
    python tools/export_model.py --config demo_cls --weights output/demo_cls/model_final.pth \
        --output exported_cls/ --check-images pictures/ --benchmark 20

The detector takes one uint8 RGB image of a fixed size (``--size H W``; default MIN_SIZE_TEST high
and 4:3) as ``1 x 3 x H x W`` and returns ``boxes`` (xyxy, in its pixels), ``scores``, ``labels``
and, for Mask R-CNN, ``masks`` (R x H x W booleans): resizing, normalisation, NMS
(torchvision.ops, ONNX NonMaxSuppression) and mask pasting are inside. The classifier takes
uint8 RGB batches of its test crop (any batch size) and returns class probabilities. Both run in
fp32 whatever ``SOLVER.AMP`` says.

The check images are ``--check-images`` (files, folders, globs) or the first ``--num-check``
images of the config's test set, plus a blank one (no detections: the graph must take an empty
result too); the agreement required is :class:`resnet_det.inference.export.Tolerance`. A file is
written only when its check passes; ``OUT/export.json`` records the inputs, outputs, class names and
the differences measured. ``--benchmark N`` times eager, the exported program and onnxruntime on the
check images, N runs each, and prints the figures.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from resnet_det.data.datasets.catalog import load_detection_dataset
from resnet_det.data.datasets.classification import ArrayDataset, is_in_memory, load_classification_dataset
from resnet_det.data.decode.files import read_rgb
from resnet_det.data.loaders.cls_transforms import center_crop, resize_shorter
from resnet_det.inference import Predictor
from resnet_det.inference.export import (
    ExportableClassifier,
    ExportableDetector,
    Tolerance,
    detection_disagreements,
    outputs_to_instances,
)
from resnet_det.inference.sources import expand_inputs
from resnet_det.utils.atomic import atomic_write_json
from resnet_det.utils.cli import UsageError, main_guard, positive_int
from resnet_det.utils.logger import setup_logger

logger = logging.getLogger("resnet_det.export")
FORMATS = ("torch", "onnx")


class ExportCheckError(RuntimeError):
    """An exported model disagrees with eager PyTorch; nothing was written for it."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--weights", help="checkpoint path or URL (default: the config's MODEL.WEIGHTS)")
    parser.add_argument("--output", required=True, help="folder for model.pt2, model.onnx and export.json")
    parser.add_argument("--format", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--size", nargs=2, type=positive_int, metavar=("H", "W"), help="the detector's input size")
    parser.add_argument("--check-images", nargs="+", metavar="PATH", help="images to check the export on")
    parser.add_argument("--num-check", type=int, default=4, help="test-set images to check on without --check-images")
    parser.add_argument("--benchmark", type=int, default=0, metavar="N", help="time each runtime N times")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE config pairs")
    return parser.parse_args(argv)


def check_images(predictor: Predictor, specs: list[str] | None, count: int) -> list[np.ndarray]:
    """H x W x 3 uint8 RGB pictures: the files named, else the first ``count`` of the test set."""
    if specs:
        files, problems = expand_inputs(specs)
        if problems:
            raise UsageError("; ".join(problems))
        return [read_rgb(f) for f in files]
    cfg = predictor.cfg
    if not cfg.DATASETS.TEST:
        raise UsageError("no DATASETS.TEST in the config to check the export on: pass --check-images")
    name = cfg.DATASETS.TEST[0]
    if predictor.is_classifier:
        data = load_classification_dataset(name, cfg.DATASETS.ROOT)
        if isinstance(data, ArrayDataset):
            return list(data.images[:count])
        return [read_rgb(p) for p in data.paths[:count]]
    dataset = load_detection_dataset(name, cfg.DATASETS.ROOT)
    return [dataset.read_image(i).permute(1, 2, 0).numpy() for i in range(min(count, len(dataset)))]


def detector_inputs(predictor: Predictor, pictures: list[np.ndarray], size: list[int] | None) -> list[torch.Tensor]:
    """Each picture resized to the export size, as 1 x 3 x H x W uint8, and a blank one."""
    short = predictor.cfg.INPUT.MIN_SIZE_TEST or pictures[0].shape[0]
    height, width = size or (short, round(short * 4 / 3))
    resized = [cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR) for p in pictures]
    resized.append(np.full((height, width, 3), 114, np.uint8))
    return [torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1)[None] for p in resized]


def classifier_inputs(predictor: Predictor, pictures: list[np.ndarray]) -> list[torch.Tensor]:
    """One batch of the pictures' centre test crops (the whole picture at the training size for the
    in-memory sets), N x 3 x S x S uint8."""
    cfg = predictor.cfg
    if all(is_in_memory(name) for name in cfg.DATASETS.TRAIN):
        crops = [predictor.test_views(p)[0] for p in pictures]
    else:
        crops = [center_crop(resize_shorter(p, cfg.TEST.RESIZE), cfg.TEST.CROP_SIZE) for p in pictures]
    return [torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()]


Runner = Callable[[torch.Tensor], list[torch.Tensor]]


def _as_list(out: torch.Tensor | tuple | list) -> list[torch.Tensor]:
    """A model's output (one tensor, or the detector's tuple) as a list of tensors."""
    return list(out) if isinstance(out, (tuple, list)) else [out]


def compare(predictor: Predictor, eager: Runner, exported: Runner, inputs: list[torch.Tensor],
            tolerance: Tolerance, what: str) -> dict:
    """Raise :class:`ExportCheckError` unless ``exported`` agrees with ``eager`` on every input;
    return the largest differences seen."""
    problems, worst = [], 0.0
    for n, x in enumerate(inputs):
        ours, theirs = eager(x), exported(x)
        if predictor.is_classifier:
            worst = max(worst, float((ours[0] - theirs[0]).abs().max()))
            if worst > tolerance.prob_atol:
                problems.append(f"input {n}: probabilities differ by {worst:.2e} > {tolerance.prob_atol}")
            continue
        a, b = outputs_to_instances(ours), outputs_to_instances(theirs)
        threshold = predictor.cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST
        problems += [f"input {n}: {p}" for p in detection_disagreements(a, b, threshold, tolerance)]
        if len(a) == len(b) and len(a):
            worst = max(worst, float((a.boxes - b.boxes).abs().max()), float((a.scores - b.scores).abs().max()))
        logger.info("%s, input %d: %d detections eager, %d exported", what, n, len(a), len(b))
    if problems:
        listed = "\n  ".join(problems)
        raise ExportCheckError(f"{what} disagrees with eager PyTorch, so it was not written:\n  {listed}")
    return {"checked_inputs": len(inputs), "max_abs_difference": worst}


def _timed(run: Runner, inputs: list[torch.Tensor], repeats: int) -> float:
    """Median seconds of one input, after one warm-up pass."""
    for x in inputs:
        run(x)
    times = []
    for _ in range(repeats):
        for x in inputs:
            start = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def onnx_runner(path: Path, output_count: int) -> Runner:
    try:
        import onnxruntime
    except ImportError:
        raise UsageError("checking the ONNX export needs onnxruntime: pip install 'resnet_det[onnx]'") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: [torch.from_numpy(o) for o in session.run(None, {name: x.numpy()})[:output_count]]


@dataclass
class Export:
    """What is exported: the module, the inputs it is checked on, its output names and dynamic dimensions."""

    module: torch.nn.Module
    inputs: list[torch.Tensor]
    outputs: list[str]
    dynamic: dict | None


def exportable(predictor: Predictor, pictures: list[np.ndarray], size: list[int] | None) -> Export:
    """The predictor's model as an exportable module, with its check inputs."""
    if predictor.is_classifier:
        return Export(ExportableClassifier(predictor.model, predictor.normalize).eval(),
                      classifier_inputs(predictor, pictures), ["probabilities"],
                      {"images": {0: torch.export.Dim("batch", min=1, max=4096)}})
    outputs = ["boxes", "scores", "labels"] + (["masks"] if predictor.cfg.MODEL.MASK_ON else [])
    return Export(ExportableDetector(predictor.model).eval(), detector_inputs(predictor, pictures, size), outputs, None)


def runner(module: Callable, mode: Callable[[], Any]) -> Runner:
    """``module`` called under ``mode`` (inference mode, no grad), its output as a list."""
    def run(x: torch.Tensor) -> list[torch.Tensor]:
        with mode():
            return _as_list(module(x))
    return run


def write_onnx(program: Any, export: Export, predictor: Predictor, eager: Runner, out_dir: Path, input_name: str,
               report: dict) -> Runner:
    """``model.onnx``, written only once onnxruntime agrees with eager PyTorch; its runner."""
    tmp = out_dir / ".model.onnx.tmp"
    torch.onnx.export(program, (export.inputs[0],), str(tmp), dynamo=True, input_names=[input_name],
                      output_names=export.outputs, external_data=False, verbose=False)
    run_onnx = onnx_runner(tmp, len(export.outputs))
    try:
        report["checks"]["onnx"] = compare(predictor, eager, run_onnx, export.inputs, Tolerance(), "the ONNX model")
    except ExportCheckError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out_dir / "model.onnx")
    logger.info("wrote %s", out_dir / "model.onnx")
    return run_onnx


def benchmark(runners: dict[str, Runner], inputs: list[torch.Tensor], repeats: int) -> dict[str, float]:
    """Median latency (ms) of each runtime on ``inputs``, printed."""
    latency = {name: 1000 * _timed(run, inputs, repeats) for name, run in runners.items()}
    print(f"median latency per input {tuple(inputs[0].shape)} on the CPU ({torch.get_num_threads()} threads), "
          f"{repeats} runs of {len(inputs)} inputs:")
    for name, ms in latency.items():
        print(f"  {name:<14} {ms:9.1f} ms")
    return latency


def _predictor(args: argparse.Namespace) -> Predictor:
    # fp32: ONNX Runtime's CPU kernels take no bfloat16 convolutions, and a served model should not
    # depend on the autocast of the machine it was exported on.
    predictor = Predictor(args.config, args.weights, device="cpu",
                          overrides=[*args.overrides, "SOLVER.AMP.ENABLED", "False"])
    test = predictor.cfg.TEST
    if test.AUG.ENABLED or test.MULTI_SCALE.ENABLED or test.ENSEMBLE.WEIGHTS:
        raise UsageError("TEST.AUG, TEST.MULTI_SCALE and TEST.ENSEMBLE are not exported: an exported detector is "
                         "one model at one size; turn them off")
    return predictor


@main_guard
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logger()
    for chatty in ("onnx_ir", "onnxscript"):  # one INFO line per folded constant
        logging.getLogger(chatty).setLevel(logging.WARNING)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    predictor = _predictor(args)
    export = exportable(predictor, check_images(predictor, args.check_images, args.num_check), args.size)
    eager = runner(export.module, torch.inference_mode)
    start = time.perf_counter()
    program = torch.export.export(export.module, (export.inputs[0],), dynamic_shapes=export.dynamic, strict=False)
    logger.info("traced with torch.export in %.1f s", time.perf_counter() - start)
    input_name = "images" if predictor.is_classifier else "image"
    report: dict = {"config": args.config, "weights": str(args.weights or predictor.cfg.MODEL.WEIGHTS),
                    "input": {"name": input_name, "dtype": "uint8", "layout": "N x 3 x H x W RGB",
                              "shape": list(export.inputs[0].shape)},
                    "outputs": export.outputs, "precision": "fp32", "classes": list(predictor.class_names),
                    "tolerance": vars(Tolerance()), "checks": {}}
    runners: dict[str, Runner] = {"eager": eager}
    if "torch" in args.format:
        from_program = runner(program.module(), torch.no_grad)
        report["checks"]["torch"] = compare(predictor, eager, from_program, export.inputs, Tolerance(),
                                            "the torch.export program")
        tmp = out_dir / ".model.tmp.pt2"  # torch.export.save wants the suffix
        torch.export.save(program, tmp)
        os.replace(tmp, out_dir / "model.pt2")
        runners["torch.export"] = from_program
        logger.info("wrote %s", out_dir / "model.pt2")
    if "onnx" in args.format:
        runners["onnxruntime"] = write_onnx(program, export, predictor, eager, out_dir, input_name, report)
    if args.benchmark:
        report["latency_ms"] = benchmark(runners, export.inputs, args.benchmark)
    atomic_write_json(out_dir / "export.json", report, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
