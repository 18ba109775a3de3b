"""Training processes killed at random moments, a lost worker under torchrun, a full disk: nothing
is lost, and the resumed runs end with exactly the weights of an uninterrupted run."""
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_det.config import load_config
from resnet_det.engine.checkpoint import CheckpointWriteError
from resnet_det.engine.cls_trainer import ClassificationTrainer

REPO = Path(__file__).resolve().parents[2]
_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
_ARGS = ["--config", "configs/demo_cls.yaml", "SOLVER.IMS_PER_BATCH", "32", "SOLVER.STEPS", "(30,)",
         "SOLVER.WARMUP_ITERS", "5", "TEST.EVAL_PERIOD", "0", "LOG_PERIOD", "5", "DETERMINISTIC", "True"]


def _final_weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "model_final.pth", weights_only=True)["model"]


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_kill_minus_9_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    # 20 checkpoints: 4 rounds of at most a few periods each never reach the end.
    args = [*_ARGS, "SOLVER.MAX_ITER", "60", "SOLVER.CHECKPOINT_PERIOD", "3"]
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
    _assert_same(_final_weights(tmp_path / "straight"), _final_weights(out))


def test_torchrun_restarts_after_a_lost_worker_and_resumes_from_the_last_checkpoint(tmp_path):
    args = [*_ARGS, "SOLVER.MAX_ITER", "24", "SOLVER.CHECKPOINT_PERIOD", "4"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    subprocess.run([*torchrun, "tools/train_cls.py", *args, "OUTPUT_DIR", str(tmp_path / "straight")],
                   cwd=REPO, env=_ENV, check=True, capture_output=True, timeout=600)
    faulty = subprocess.run([*torchrun, "--max_restarts", "1", "tests/engine/kill_rank1_after_first_checkpoint.py",
                             "--resume", *args, "OUTPUT_DIR", str(tmp_path / "faulty")],
                            cwd=REPO, env=_ENV, capture_output=True, text=True, timeout=600)
    assert faulty.returncode == 0, faulty.stderr[-3000:]
    assert "failed (exitcode: -9) local_rank: 1" in faulty.stderr  # torchrun saw rank 1 die, and restarted
    assert "resumed from" in faulty.stderr and "model_00000" in faulty.stderr
    _assert_same(_final_weights(tmp_path / "straight"), _final_weights(tmp_path / "faulty"))


def test_full_disk_at_a_save_stops_the_run_keeps_the_last_checkpoint_and_resume_finishes(tmp_path, monkeypatch):
    def cfg(out: Path):
        return load_config("configs/demo_cls.yaml", [*_ARGS[2:], "SOLVER.MAX_ITER", "12", "SOLVER.CHECKPOINT_PERIOD", "4",
                                                     "OUTPUT_DIR", str(out)])

    ClassificationTrainer(cfg(tmp_path / "straight")).train()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        # Where the disk fills matters little; network and delayed-allocation filesystems report it
        # at fsync, after every write() succeeded.
        if "model_0000008" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(CheckpointWriteError, match=r"model_0000008.pth \(No space left on device\); the last "
                                                   r"complete checkpoint, .*model_0000004.pth, is intact"):
        ClassificationTrainer(cfg(tmp_path / "full")).train()
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "full").glob("*.pth")) == ["model_0000004.pth"]
    resumed = ClassificationTrainer(cfg(tmp_path / "full"))
    resumed.load(resume=True)
    assert resumed.start_iter == 4
    resumed.train()
    _assert_same(_final_weights(tmp_path / "straight"), _final_weights(tmp_path / "full"))
