import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_study_trains_tabulates_and_plots(tmp_path):
    # The study's plumbing on the built-in shapes (a CPU-sized stand-in for CIFAR-10).
    out = tmp_path / "study"
    cmd = [sys.executable, str(REPO / "tools/cifar_study.py"), "--root", str(tmp_path), "--out", str(out),
           "--configs", "cifar_resnet20", "cifar_plain20", "--parallel", "2", "--train-eval-set", "shapes_test",
           "MODEL.DEVICE", "cpu", "SOLVER.AMP.ENABLED", "False", "DATASETS.TRAIN", '("shapes_train",)',
           "DATASETS.TEST", '("shapes_test",)', "SOLVER.MAX_ITER", "8", "SOLVER.STEPS", "(6,)",
           "TEST.EVAL_PERIOD", "4", "LOG_PERIOD", "2", "SOLVER.IMS_PER_BATCH", "16"]
    stdout = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    table = (out / "RESULTS.md").read_text()
    assert "| cifar_resnet20 |" in table and "| 8.75 |" in table and "| cifar_plain20 |" in table
    assert table.splitlines()[-1] in stdout
    assert (out / "fig6.png").stat().st_size > 10_000 and (out / "fig7.png").stat().st_size > 10_000
