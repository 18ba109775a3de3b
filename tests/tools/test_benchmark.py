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
