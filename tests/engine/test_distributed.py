import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def test_two_process_gloo_run_matches_one_process(tmp_path, small_run_args, assert_same_final_weights):
    # GroupNorm makes the model independent of how the global batch is split, so what is left is
    # the order of floating-point sums, which early training amplifies: on a 2-core CPU, 1 vs 2
    # threads in one process already end 6.0e-4 apart (relative L2 over all weights) after these
    # 10 steps, the 2-process run 6.1e-4 from the 1-process one, and a different data seed 1.14.
    args = [*small_run_args("cls"), "MODEL.RESNETS.NORM", "GN", "SOLVER.MAX_ITER", "10", "SOLVER.BASE_LR", "0.01",
            "SOLVER.WARMUP_ITERS", "0", "SOLVER.CHECKPOINT_PERIOD", "1000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "tools/train_cls.py", *args, "OUTPUT_DIR", str(tmp_path / "one")],
                   cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    "tools/train_cls.py", *args, "OUTPUT_DIR", str(tmp_path / "two")],
                   cwd=REPO, env=env, check=True, capture_output=True)
    # detectron2's --num-gpus: the same processes, started by the tool itself.
    subprocess.run([sys.executable, "tools/train_cls.py", "--num-gpus", "2", *args,
                    "OUTPUT_DIR", str(tmp_path / "spawned")], cwd=REPO, env=env, check=True, capture_output=True)
    assert_same_final_weights(tmp_path / "two", tmp_path / "spawned")
    one = torch.load(tmp_path / "one" / "model_final.pth", weights_only=True)["model"]
    two = torch.load(tmp_path / "two" / "model_final.pth", weights_only=True)["model"]
    keys = [k for k in one if one[k].is_floating_point()]
    a, b = (torch.cat([state[k].flatten() for k in keys]) for state in (one, two))
    assert ((a - b).norm() / a.norm()).item() < 5e-3
    m1, m2 = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    r1, r2 = (m["results"]["shapes_test"]["classification"] for m in (m1, m2))
    assert r1["num_images"] == r2["num_images"] == 1000
    assert abs(r1["top1_error"] - r2["top1_error"]) <= 1.0
