import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cls_benchmark_measures_both_implementations(tmp_path):
    out = tmp_path / "bench.json"
    stdout = subprocess.run([sys.executable, str(REPO / "tools/benchmark.py"), "cls", "--device", "cpu", "--depth",
                             "18", "--batch", "4", "--size", "64", "--iters", "2", "--warmup", "1", "--precision",
                             "fp32", "--json", str(out)], check=True, capture_output=True, text=True).stdout
    rows = json.loads(out.read_text())["rows"]
    assert {(r["impl"], r["mode"]) for r in rows} == {(i, m) for i in ("resnet_det", "torchvision")
                                                      for m in ("train", "infer")}
    assert all(r["images_per_s"] > 0 for r in rows)
    assert "ours/peer" in stdout


def test_det_benchmark_measures_training_and_inference(tmp_path):
    out = tmp_path / "det.json"
    stdout = subprocess.run([sys.executable, str(REPO / "tools/benchmark.py"), "det", "--device", "cpu", "--depth", "18",
                             "--mask", "--height", "64", "--width", "96", "--train-batch", "2", "--infer-batches", "1",
                             "2", "--iters", "1", "--warmup", "1", "--precision", "fp32", "--detectron2-configs",
                             str(tmp_path / "none"), "--json", str(out)], check=True, capture_output=True, text=True).stdout
    rows = json.loads(out.read_text())["rows"]
    assert [(r["impl"], r["mode"], r["batch"]) for r in rows] == [("resnet_det", "train", 2), ("resnet_det", "infer", 1),
                                                                  ("resnet_det", "infer", 2)]
    assert all(r["images_per_s"] > 0 and r["model"] == "mask_rcnn_R18_C4" for r in rows)
    assert "ms/batch" in stdout
