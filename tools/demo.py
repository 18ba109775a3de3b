#!/usr/bin/env python
"""Run a trained detector or classifier on one's own pictures, folders of them, or a video.

    python tools/demo.py --config demo --weights output/demo/model_final.pth \
        --input photo.jpg holiday/ "scans/**/*.png" --output out/
    python tools/demo.py --config demo --weights output/demo/model_final.pth --video-input clip.mp4 --output out/
    python tools/demo.py --config demo_cls --weights output/demo_cls/model_final.pth --input pictures/ --output out/

A detector writes each picture with its boxes, class names, scores and masks drawn (``out/<name>.jpg``)
and one COCO-format file of all detections, ``out/detections.json`` (images with their file
names, categories, and annotations with scores; pycocotools' ``COCO`` reads it). A classifier writes
``out/predictions.json``, the top-5 classes of each picture with names and probabilities. A video
comes out as ``out/<name>.mp4`` with the detections drawn. Files that cannot be read are named
and skipped; the exit status is 1 only when nothing could be processed.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils

from resnet_det.data.datasets.class_names import coco_category_ids, coco_classes
from resnet_det.data.decode.files import ImageDecodeError
from resnet_det.evaluation.coco_evaluator import ImageDetections
from resnet_det.inference import Classification, Predictor
from resnet_det.inference.inputs import as_rgb_tensor
from resnet_det.inference.sources import expand_inputs, video_frames
from resnet_det.modeling.detection.structures import Instances
from resnet_det.utils.atomic import atomic_write_json
from resnet_det.utils.cli import UsageError, main_guard
from resnet_det.utils.logger import setup_logger
from resnet_det.utils.progress import track
from resnet_det.utils.visualize import draw_instances

logger = logging.getLogger("resnet_det.demo")
T = TypeVar("T")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="config name (demo, coco_r101) or YAML path")
    parser.add_argument("--weights", help="checkpoint path or URL (default: the config's MODEL.WEIGHTS)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", nargs="+", metavar="PATH", help="image files, folders or glob patterns")
    source.add_argument("--video-input", metavar="FILE", help="a video file")
    parser.add_argument("--output", required=True, help="folder for the pictures and the JSON file")
    parser.add_argument("--confidence-threshold", type=float, default=0.5,
                        help="detections below this score are left out (MODEL.ROI_HEADS.SCORE_THRESH_TEST)")
    parser.add_argument("--batch-size", type=int, help="images run together (default: TEST.IMS_PER_BATCH)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: MODEL.DEVICE)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE config pairs")
    return parser.parse_args(argv)


def read_batches(predictor: Predictor, files: Sequence[Path], batch_size: int, skipped: list[str]
                 ) -> Iterator[list[tuple[Path, torch.Tensor]]]:
    """Decoded images a batch at a time; each file that cannot be read, or that the model cannot
    take (:meth:`Predictor.input_problem`), logged by name and added to ``skipped``."""
    def decoded() -> Iterator[tuple[Path, torch.Tensor]]:
        for path in files:
            try:
                image = as_rgb_tensor(path, max_pixels=predictor.cfg.DATALOADER.MAX_IMAGE_PIXELS)
            except (ImageDecodeError, OSError) as e:
                logger.warning("skipping %s", e)
                skipped.append(str(path))
                continue
            if problem := predictor.input_problem(image):
                logger.warning("skipping %s: %s", path, problem)
                skipped.append(str(path))
                continue
            yield path, image

    return _chunks(decoded(), batch_size)


def _picture_name(path: Path, used: set[str]) -> str:
    """``<stem>.jpg``, numbered where two inputs share a stem."""
    name, n = f"{path.stem}.jpg", 1
    while name in used:
        name, n = f"{path.stem}_{n}.jpg", n + 1
    used.add(name)
    return name


def _draw(predictor: Predictor, image: torch.Tensor, det: Instances, threshold: float) -> np.ndarray:
    """The picture with its detections drawn, BGR for OpenCV to write."""
    drawn = draw_instances(image.permute(1, 2, 0).numpy(), det.boxes, det.labels, predictor.class_names,
                           scores=det.scores, masks=det.masks, score_threshold=threshold)
    return np.ascontiguousarray(drawn[:, :, ::-1])


def coco_document(images: list[dict], detections: list[ImageDetections], names: Sequence[str],
                  category_ids: Sequence[int]) -> dict:
    """A COCO-format file of the detections: ``images``, ``categories`` and scored ``annotations``."""
    annotations = []
    for image in detections:
        for record in image.records():
            segmentation = record.get("segmentation")
            area = float(mask_utils.area(segmentation)) if segmentation else record["bbox"][2] * record["bbox"][3]
            annotations.append({"id": len(annotations) + 1, **record, "area": area, "iscrowd": 0})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": int(i), "name": n} for i, n in zip(category_ids, names)]}


def run_detector_on_files(predictor: Predictor, files: Sequence[Path], out_dir: Path, batch_size: int,
                          threshold: float, skipped: list[str]) -> int:
    names = predictor.class_names
    category_ids = coco_category_ids() if names == coco_classes() else list(range(1, len(names) + 1))
    images: list[dict] = []
    detections: list[ImageDetections] = []
    used: set[str] = set()
    batches = read_batches(predictor, files, batch_size, skipped)
    for batch in track(batches, "demo", unit="batches", total=-(-len(files) // batch_size)):
        for (path, image), det in zip(batch, predictor.predict_tensors([im for _, im in batch])):
            picture = _picture_name(path, used)
            cv2.imwrite(str(out_dir / picture), _draw(predictor, image, det, threshold))
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": str(path), "width": image.shape[2],
                           "height": image.shape[1], "drawn": picture})
            detections.append(ImageDetections.from_instances(det, image_id, category_ids))
    atomic_write_json(out_dir / "detections.json", coco_document(images, detections, names, category_ids))
    logger.info("%d detections in %d images: pictures and detections.json in %s",
                sum(map(len, detections)), len(images), out_dir)
    return len(images)


def _classification_record(path: Path, result: Classification) -> dict:
    return {"file_name": str(path), "top_k": [{"class": int(i), "name": n, "probability": float(p)}
                                              for i, n, p in zip(result.indices, result.names, result.probabilities)]}


def run_classifier_on_files(predictor: Predictor, files: Sequence[Path], out_dir: Path, batch_size: int,
                            skipped: list[str]) -> int:
    records = []
    batches = read_batches(predictor, files, batch_size, skipped)
    for batch in track(batches, "demo", unit="batches", total=-(-len(files) // batch_size)):
        for (path, _), result in zip(batch, predictor.predict_tensors([im for _, im in batch])):
            records.append(_classification_record(path, result))
            logger.info("%s: %s (%.1f%%)", path, result.names[0], 100 * float(result.probabilities[0]))
    atomic_write_json(out_dir / "predictions.json", records, indent=1)
    logger.info("top-%d classes of %d images in %s", predictor.top_k, len(records), out_dir / "predictions.json")
    return len(records)


def run_on_video(predictor: Predictor, path: Path, out_dir: Path, batch_size: int, threshold: float) -> int:
    """Detections drawn on every frame, written at the input's frame rate (MPEG-4 Part 2, which every
    OpenCV build, headless ones included, can write)."""
    if predictor.is_classifier:
        raise UsageError("--video-input needs a detector config")
    frames, fps, count = video_frames(path)
    out_path = out_dir / f"{path.stem}.mp4"
    writer: cv2.VideoWriter | None = None
    done = 0
    chunks = _chunks(frames, batch_size)
    for chunk in track(chunks, "video", unit="batches", total=-(-count // batch_size) if count > 0 else None):
        images = [as_rgb_tensor(frame, "BGR") for frame in chunk]
        for image, det in zip(images, predictor.predict_tensors(images)):
            if writer is None:
                writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                         (image.shape[2], image.shape[1]))
            writer.write(_draw(predictor, image, det, threshold))
            done += 1
    if writer is not None:
        writer.release()
    logger.info("%d frames with detections drawn in %s", done, out_path)
    return done


def _chunks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@main_guard
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    setup_logger()
    overrides = [*args.overrides, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", str(args.confidence_threshold)]
    predictor = Predictor(args.config, args.weights, device=args.device, overrides=overrides)
    batch_size = args.batch_size or predictor.cfg.TEST.IMS_PER_BATCH
    if args.video_input:
        return 0 if run_on_video(predictor, Path(args.video_input), out_dir, batch_size,
                                 args.confidence_threshold) else 1
    files, problems = expand_inputs(args.input)
    for problem in problems:
        logger.warning("%s", problem)
    skipped: list[str] = []
    if predictor.is_classifier:
        done = run_classifier_on_files(predictor, files, out_dir, batch_size, skipped)
    else:
        done = run_detector_on_files(predictor, files, out_dir, batch_size, args.confidence_threshold, skipped)
    if skipped or problems:
        logger.warning("%d image(s) processed; %d unreadable and skipped: %s", done, len(skipped),
                       ", ".join(skipped) or "none")
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
