import json
import logging
import shutil

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from resnet_det.data.datasets.shapes import SHAPES


@pytest.fixture
def demo(tool):
    return tool("demo").main


def _detector_args(demo_weights, out, *extra):
    return ["--config", "demo", "--weights", str(demo_weights("det")), "--output", str(out), "--device", "cpu",
            "--confidence-threshold", "0.05", *extra]


def test_a_folder_with_broken_files_gives_pictures_and_coco_json_for_the_rest(demo, demo_weights, shared_data,
                                                                            tmp_path, caplog):
    folder = tmp_path / "in"
    folder.mkdir()
    voc = sorted((shared_data / "VOCdevkit/VOC2007/JPEGImages").glob("*.jpg"))[:2]
    for path in voc:
        shutil.copy(path, folder)
    (folder / "truncated.jpg").write_bytes(voc[0].read_bytes()[:2000])
    (folder / "notes.jpg").write_text("not a picture")
    (folder / "readme.txt").write_text("ignored: not an image file name")
    cv2.imwrite(str(folder / "thin.png"), np.zeros((1, 3000, 3), np.uint8))  # resizes to 0 x 400 for the detector
    with caplog.at_level(logging.WARNING):
        assert demo(_detector_args(demo_weights, tmp_path / "out", "--input", str(folder), str(tmp_path / "nope"))) == 0
    assert "truncated.jpg" in caplog.text and "notes.jpg" in caplog.text and "nope" in caplog.text
    assert "thin.png: 1 x 3000 image would be resized to 0 x 400" in caplog.text
    drawn = sorted(p.name for p in (tmp_path / "out").glob("*.jpg"))
    assert drawn == [p.name for p in voc]
    for path in voc:
        assert cv2.imread(str(tmp_path / "out" / path.name)).shape == cv2.imread(str(path)).shape
    coco = COCO(str(tmp_path / "out/detections.json"))
    assert [img["file_name"] for img in coco.dataset["images"]] == [str(folder / p.name) for p in voc]
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["circle", "square", "triangle"]
    annotations = coco.loadAnns(coco.getAnnIds())
    assert annotations and all(a["score"] >= 0.05 and "segmentation" in a for a in annotations)
    assert coco.annToMask(annotations[0]).shape == cv2.imread(str(voc[annotations[0]["image_id"] - 1])).shape[:2]


def test_nothing_readable_is_a_failure(demo, demo_weights, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    assert demo(_detector_args(demo_weights, tmp_path / "out", "--input", str(tmp_path / "bad.png"))) == 1


def test_a_video_comes_out_with_every_frame_drawn(demo, demo_weights, tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 60, (96, 128, 3), dtype=np.uint8) for _ in range(5)]
    for i, frame in enumerate(frames):
        frame[20 + 5 * i:60 + 5 * i, 30:80] = 220
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (128, 96))
    for frame in frames:
        writer.write(frame)
    writer.release()
    args = _detector_args(demo_weights, tmp_path / "out", "--video-input", str(tmp_path / "clip.mp4"),
                          "--batch-size", "2")
    assert demo(args) == 0
    capture = cv2.VideoCapture(str(tmp_path / "out/clip.mp4"))
    out = []
    while (read := capture.read())[0]:
        out.append(read[1])
    assert len(out) == 5 and out[0].shape == (96, 128, 3)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10)


def test_a_classifier_lists_its_top_five_with_names(demo, demo_weights, tmp_path):
    image = np.zeros((40, 40, 3), np.uint8)
    cv2.circle(image, (20, 20), 12, (255, 255, 255), -1)
    cv2.imwrite(str(tmp_path / "circle.png"), image)
    args = ["--config", "demo_cls", "--weights", str(demo_weights("cls")), "--input", str(tmp_path / "circle.png"),
            "--output", str(tmp_path / "out"), "--device", "cpu"]
    assert demo(args) == 0
    [record] = json.loads((tmp_path / "out/predictions.json").read_text())
    top = record["top_k"]
    assert record["file_name"] == str(tmp_path / "circle.png") and len(top) == 5
    assert all(t["name"] == SHAPES[t["class"]] for t in top)
    probabilities = [t["probability"] for t in top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6
