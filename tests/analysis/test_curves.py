import json
import subprocess
import sys
from pathlib import Path

import cv2

from resnet_det.analysis.curves import read_curves

REPO = Path(__file__).resolve().parents[2]


def _fake_run(path: Path, arch: str, errors: list[float]) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(f"MODEL:\n  ARCH: {arch}\nDATASETS:\n  TEST: [cifar10_test]\n")
    lines = []
    for i, err in enumerate(errors, start=1):
        lines.append({"iteration": i * 100, "loss": 1.0, "train_top1_error": err, "lr": 0.1})
        lines.append({"iteration": i * 100, "cifar10_test/classification/top1_error": err + 5,
                      "cifar10_test/classification/top5_error": 1.0})
    lines.append({"iteration": 200, "loss": 1.0, "train_top1_error": 11.0, "lr": 0.1})  # a resumed run's repeat
    (path / "metrics.json").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    return path


def test_read_curves_keeps_the_latest_value_per_iteration(tmp_path):
    curves = read_curves(_fake_run(tmp_path / "r", "cifar_plain20", [50.0, 40.0, 30.0]))
    assert curves.name == "cifar_plain20"
    assert curves.train == {100: 50.0, 200: 11.0, 300: 30.0}
    assert curves.test == {100: 55.0, 200: 45.0, 300: 35.0}


def test_fig6_tool_writes_a_picture(tmp_path):
    runs = [_fake_run(tmp_path / a, a, [60.0, 50.0]) for a in ("cifar_plain20", "cifar_resnet20")]
    out = tmp_path / "fig6.png"
    subprocess.run([sys.executable, str(REPO / "tools/analyze.py"), "fig6", *map(str, runs), "--out", str(out)],
                   check=True, capture_output=True)
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] > image.shape[0] > 300
