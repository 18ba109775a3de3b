"""Checkpoints survive kills, full disks, damage and tampering; resume finds the newest good one."""
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from torch import nn

from resnet_det.engine.checkpoint import Checkpointer, CheckpointReadError, CheckpointWriteError
from resnet_det.weights import WeightsMismatchError


def _checkpointer(folder, seed: int = 0) -> Checkpointer:
    torch.manual_seed(seed)
    model = nn.Linear(64, 64)
    return Checkpointer(folder, model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def _save(ckpt: Checkpointer, iteration: int):
    return ckpt.save(f"model_{iteration:07d}", meta={}, iteration=iteration)


def test_a_failed_write_keeps_the_previous_checkpoint_and_says_so(tmp_path):
    # A real kernel-level write failure: the file size limit makes write() fail with EFBIG, as a
    # full disk makes it fail with ENOSPC; both go through the same path.
    script = textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {str(os.path.dirname(__file__))!r})
        from test_checkpoint import _checkpointer, _save
        ckpt = _checkpointer({str(tmp_path)!r})
        _save(ckpt, 1)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        ckpt.model.weight.data.add_(1)
        try:
            _save(ckpt, 2)
        except OSError as e:
            print(type(e).__name__, e)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("CheckpointWriteError could not write checkpoint")
    assert "model_0000002.pth" in out.stdout
    assert "model_0000001.pth, is intact" in out.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_checkpoint", "model_0000001.pth"]
    fresh = _checkpointer(tmp_path, seed=1)
    assert fresh.resume()["iteration"] == 1 and torch.equal(fresh.model.weight, _checkpointer(tmp_path).model.weight)


_SAVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_checkpoint import _checkpointer, _save
    ckpt = _checkpointer({out!r})
    ckpt.model.weight.data = ckpt.model.weight.data.repeat(64, 1)  # 1 MB, so saves take a while
    i = int(sys.argv[1])
    while True:
        ckpt.model.weight.data.fill_(i)
        _save(ckpt, i)
        i += 1
""")


def test_kill_at_random_moments_never_leaves_a_truncated_checkpoint(tmp_path):
    script = _SAVER.format(tests=os.path.dirname(__file__), out=str(tmp_path))
    rng = np.random.default_rng(0)
    start = 0
    for _ in range(8):
        pointer = tmp_path / "last_checkpoint"
        before = pointer.read_text() if pointer.exists() else None
        proc = subprocess.Popen([sys.executable, "-c", script, str(start)], stderr=subprocess.PIPE)
        while proc.poll() is None and (not pointer.exists() or pointer.read_text() == before):
            time.sleep(0.01)  # this process has saved at least once
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Every file under a final name is complete, and the pointer names the newest one.
        files = sorted(tmp_path.glob("model_*.pth"))
        for path in files:
            state = torch.load(path, weights_only=True)
            assert (state["model"]["weight"] == state["iteration"]).all()
        last = Checkpointer(tmp_path, nn.Linear(1, 1)).last_checkpoint()
        assert last is not None and int(last.stem.split("_")[1]) >= int(files[-1].stem.split("_")[1]) - 1
        start = int(files[-1].stem.split("_")[1]) + 1
    assert start >= 8  # every process saved before it was killed


@pytest.mark.parametrize("damage", [lambda data: data[:1000], lambda data: np.random.default_rng(0).bytes(5000)],
                         ids=["a copy that stopped half way", "random bytes"])
def test_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog, damage):
    ckpt = _checkpointer(tmp_path)
    _save(ckpt, 1)
    time.sleep(0.01)
    path = _save(ckpt, 2)
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING):
        assert _checkpointer(tmp_path, seed=1).resume()["iteration"] == 1
    assert "cannot read checkpoint" in caplog.text and "model_0000002.pth" in caplog.text


def test_checkpoint_of_another_architecture_is_reported_not_half_loaded(tmp_path):
    _save(_checkpointer(tmp_path), 1)
    other = Checkpointer(tmp_path, nn.Linear(64, 32))
    with pytest.raises(WeightsMismatchError, match=r"(?s)model_0000001.pth.*weight"):
        other.resume()


class _Payload:
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_tampered_checkpoint_runs_nothing(tmp_path):
    payload = _Payload()
    payload.marker = tmp_path / "pwned"
    torch.save({"model": payload, "iteration": 1}, tmp_path / "model_0000001.pth")
    (tmp_path / "last_checkpoint").write_text("model_0000001.pth")
    with pytest.raises(CheckpointReadError, match="model_0000001.pth: refused to load"):
        _checkpointer(tmp_path).resume()
    assert not payload.marker.exists()


def test_temporaries_of_a_killed_save_are_cleaned_up(tmp_path):
    (tmp_path / ".model_0000003.pth.abc123.tmp").write_bytes(b"half")
    _save(_checkpointer(tmp_path), 4)
    assert not list(tmp_path.glob(".*.tmp"))


def test_non_finite_weights_are_never_written(tmp_path):
    ckpt = _checkpointer(tmp_path)
    _save(ckpt, 1)
    ckpt.model.weight.data[3, 5] = float("nan")
    with pytest.raises(CheckpointWriteError, match=r"refused to write checkpoint .*model_0000002.pth: tensor weight "
                                                   r"holds NaN .*model_0000001.pth, is intact"):
        _save(ckpt, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_checkpoint", "model_0000001.pth"]


def test_resume_passes_over_a_checkpoint_with_non_finite_weights(tmp_path, caplog):
    ckpt = _checkpointer(tmp_path)
    _save(ckpt, 1)
    time.sleep(0.01)
    path = _save(ckpt, 2)
    state = torch.load(path, weights_only=True)
    state["model"]["bias"][0] = float("inf")  # e.g. written by another program
    torch.save(state, path)
    with caplog.at_level(logging.WARNING):
        assert _checkpointer(tmp_path, seed=1).resume()["iteration"] == 1
    assert "model_0000002.pth: tensor bias holds NaN or infinite values" in caplog.text


def test_resume_with_checkpoints_of_which_none_loads_names_each_and_keeps_them(tmp_path):
    (tmp_path / "model_0000002.pth").write_bytes(b"PK\x03\x04cut short")
    torch.save({"weights": "not a training checkpoint"}, tmp_path / "model_0000004.pth")
    (tmp_path / "last_checkpoint").write_text("model_0000006.pth")  # named, but gone
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(CheckpointReadError) as err:
        _checkpointer(tmp_path).resume()
    message = str(err.value)
    assert "last_checkpoint names model_0000006.pth, which is missing" in message
    assert "model_0000002.pth: cannot read checkpoint" in message
    assert "model_0000004.pth: not a resnet_det training checkpoint" in message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing overwritten
    assert _checkpointer(tmp_path / "fresh").resume() is None  # no checkpoint at all: a fresh start


def test_a_resume_whose_optimizer_does_not_fit_names_the_checkpoint_the_key_and_the_change(tmp_path):
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    config = "MODEL:\n  BACKBONE:\n    FREEZE_AT: 2\nOUTPUT_DIR: a\n"
    saved = Checkpointer(tmp_path, model, config=config, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    saved.save("model_0000001", meta={}, iteration=1, config=config)
    model[0].requires_grad_(False)  # a frozen stage: the optimizer now holds fewer parameters
    resumed = Checkpointer(tmp_path, model, config=config.replace("2", "3").replace(": a", ": b"),
                           optimizer=torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1))
    with pytest.raises(CheckpointReadError, match=r"model_0000001.pth: its optimizer state does not fit this run's "
                                                  r"optimizer .*the config changed since it was saved: "
                                                  r"MODEL.BACKBONE.FREEZE_AT 2 -> 3; to start"):
        resumed.resume()
