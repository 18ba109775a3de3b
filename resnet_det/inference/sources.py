"""What ``tools/demo.py`` reads: image files named by paths, folders and globs, and video frames."""
from __future__ import annotations

import glob
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from resnet_det.utils.cli import UsageError

logger = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def expand_inputs(specs: Sequence[str]) -> tuple[list[Path], list[str]]:
    """``(image files, problems)`` for paths, folders (their image files, by name) and glob patterns,
    in the order given, each file once. A spec that names nothing is a problem, not an error, so the
    rest still run."""
    files: dict[Path, None] = {}
    problems = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found = [path]
        elif glob.has_magic(spec):
            found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        else:
            found = []
        if not found:
            hint = " (KEY VALUE config pairs go last, after an option such as --output)" \
                if re.fullmatch(r"[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+", spec) else ""
            problems.append(f"{spec}: no such file, or no image files in it{hint}")
        files.update(dict.fromkeys(found))
    return list(files), problems


def video_frames(path: str | Path) -> tuple[Iterator[np.ndarray], float, int]:
    """``(frames, frames per second, frame count)`` of a video; frames are H x W x 3 uint8 BGR, as
    OpenCV reads them. The count is the container's claim and may be 0 where it makes none."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UsageError(f"{path}: cannot open as a video (missing, or a format this OpenCV cannot read)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))

    def frames() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield frame
        finally:
            capture.release()

    return frames(), fps, count
