"""Training processes killed at random moments and a lost worker under torchrun: nothing is lost, and
the resumed runs end with exactly the weights of an uninterrupted run (a full disk and crashes inside
the process are in test_resume.py)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_kill_minus_9_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path, small_run_args,
                                                                                assert_same_final_weights):
    # 20 checkpoints: 4 rounds of at most a few periods each never reach the end.
    args = [*small_run_args("cls"), "SOLVER.MAX_ITER", "60", "SOLVER.CHECKPOINT_PERIOD", "3"]
    started = time.perf_counter()
    subprocess.run([sys.executable, "tools/train_cls.py", *args, "OUTPUT_DIR", str(tmp_path / "straight")],
                   cwd=REPO, env=_ENV, check=True, capture_output=True, timeout=600)
    duration = time.perf_counter() - started
    out, rng, kills = tmp_path / "killed", np.random.default_rng(0), 0
    pointer = out / "last_checkpoint"
    while kills < 4:
        before = pointer.read_text() if pointer.exists() else None
        proc = subprocess.Popen([sys.executable, "tools/train_cls.py", "--resume", *args, "OUTPUT_DIR", str(out)],
                                cwd=REPO, env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Let each run save at least one new checkpoint, then kill it at a random moment of the
        # next period: mid-step, mid-save or mid-start-up, whatever that moment holds.
        while proc.poll() is None and (not pointer.exists() or pointer.read_text() == before):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.0) * duration / 20)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        torch.load(out / pointer.read_text(), weights_only=True)  # what was on disk at the kill is complete
    subprocess.run([sys.executable, "tools/train_cls.py", "--resume", *args, "OUTPUT_DIR", str(out)],
                   cwd=REPO, env=_ENV, check=True, capture_output=True, timeout=600)
    assert_same_final_weights(tmp_path / "straight", out)


def test_torchrun_restarts_after_a_lost_worker_and_resumes_from_the_last_checkpoint(tmp_path, small_run_args,
                                                                                    assert_same_final_weights):
    args = [*small_run_args("cls"), "SOLVER.MAX_ITER", "24", "SOLVER.CHECKPOINT_PERIOD", "4"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    subprocess.run([*torchrun, "tools/train_cls.py", *args, "OUTPUT_DIR", str(tmp_path / "straight")],
                   cwd=REPO, env=_ENV, check=True, capture_output=True, timeout=600)
    faulty = subprocess.run([*torchrun, "--max_restarts", "1", "tests/engine/kill_rank1_after_first_checkpoint.py",
                             "--resume", *args, "OUTPUT_DIR", str(tmp_path / "faulty")],
                            cwd=REPO, env=_ENV, capture_output=True, text=True, timeout=600)
    assert faulty.returncode == 0, faulty.stderr[-3000:]
    assert "failed (exitcode: -9) local_rank: 1" in faulty.stderr  # torchrun saw rank 1 die, and restarted
    assert "resumed from" in faulty.stderr and "model_00000" in faulty.stderr
    assert_same_final_weights(tmp_path / "straight", tmp_path / "faulty")
