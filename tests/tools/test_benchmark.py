import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("decode", [[], ["--decode-on-device"], ["--v2-augment"]],
                         ids=["workers_decode", "device_decodes", "v2_augment"])
def test_cls_benchmark_measures_both_implementations_and_our_file_pipeline(tmp_path, decode):
    for i in range(6):  # two classes of real-sized JPEGs, fewer than a batch
        folder = tmp_path / "images" / f"class{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(i).integers(0, 256, (300, 400, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg")
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, str(REPO / "tools/benchmark.py"), "cls", "--device", "cpu", "--depth", "18",
                          "--batch", "8", "--size", "64", "--iters", "2", "--warmup", "1", "--precision", "fp32",
                          "--data", str(tmp_path / "images"), "--workers", "0", "--repeats", "3", "--json", str(out),
                          *decode], check=True, capture_output=True, text=True)
    stdout = run.stdout
    assert "6 images, fewer than a batch; each is used 2 times" in run.stderr
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert result["args"]["decode_on_device"] == (decode == ["--decode-on-device"])
    assert {(r["impl"], r["mode"]) for r in rows} == {(i, m) for i in ("resnet_det", "torchvision")
                                                      for m in ("train", "infer")} | {("resnet_det", "train_files"),
                                                                                       ("resnet_det", "load")}
    loads = sorted(r["model"] for r in rows if r["mode"] == "load")
    assert loads == (["image_folder", "image_folder_v2_augment"] if decode == ["--v2-augment"] else ["image_folder"])
    assert all(r["images_per_s"] > 0 for r in rows)
    timed = [r for r in rows if r["mode"] != "load"]  # interleaved rounds, each row their median
    assert all(len(r["rounds_s"]) == 3 and r["ms_per_batch"] / 1000 == pytest.approx(sorted(r["rounds_s"])[1])
               for r in timed)
    assert "ours/peer" in stdout and "spread" in stdout and "pipeline alone delivers" in stdout


def test_det_benchmark_measures_training_and_inference(tmp_path, tiny_coco):
    coco = tiny_coco(tmp_path, [{"image_id": i, "bbox": [10, 5, 30, 20], "area": 600,
                                 "segmentation": [[10, 5, 40, 5, 40, 25, 10, 25]]} for i in (1, 2, 3)])
    out = tmp_path / "det.json"
    stdout = subprocess.run([sys.executable, str(REPO / "tools/benchmark.py"), "det", "--device", "cpu",
                             "--depth", "18", "--mask", "--height", "64", "--width", "96", "--train-rois", "64",
                             "--test-proposals", "100", "--train-batch", "2", "--infer-batches", "1",
                             "2", "--iters", "1", "--warmup", "1", "--precision", "fp32", "--detectron2-configs",
                             str(tmp_path / "none"), "--coco", str(coco), str(tmp_path), "--workers", "0",
                             "--repeats", "1", "--json", str(out)], check=True, capture_output=True, text=True).stdout
    rows = json.loads(out.read_text())["rows"]
    assert [(r["impl"], r["mode"], r["batch"]) for r in rows] == [
        ("resnet_det", "load", 2), ("resnet_det", "train", 2), ("resnet_det", "train_files", 2),
        ("resnet_det", "infer", 1), ("resnet_det", "infer", 2)]
    assert rows[0]["of_synthetic"] > 0 and rows[2]["of_synthetic"] > 0
    assert all(r["images_per_s"] > 0 and r["model"] == "mask_rcnn_R18_C4" for r in rows[1:])
    assert all(r["host_syncs"] > 0 for r in rows[1:])  # NMS at least
    assert "ms/batch" in stdout and "syncs" in stdout
