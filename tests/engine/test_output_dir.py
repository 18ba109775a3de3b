"""OUTPUT_DIR: refused at start-up when it cannot be written; held by one live training run at a time,
and taken over once its holder is gone (however it ended)."""
import logging
import socket
import subprocess
import sys

import pytest

from resnet_det.engine.output_dir import OutputDirError, OutputDirLock

_HOLDER = """
import sys, time
from resnet_det.engine.output_dir import OutputDirLock
OutputDirLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_run_refuses_a_folder_a_live_run_holds_and_takes_it_over_once_it_is_gone(tmp_path, small_trainer,
                                                                                         caplog):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        in_flight = tmp_path / ".model_0000010.pth.x1y2z3.tmp"  # the live run's checkpoint being written
        in_flight.write_bytes(b"half a checkpoint")
        trainer = small_trainer("cls", tmp_path, "SOLVER.MAX_ITER", "4", "SOLVER.STEPS", "(2,)")
        with pytest.raises(OutputDirError, match=rf"in use by a live training run \(host {socket.gethostname()}, "
                                                 rf"pid {holder.pid}, since .*\); wait for it to end"):
            trainer.train()
        assert in_flight.exists() and not list(tmp_path.glob("*.pth"))  # nothing of the live run touched
    finally:
        holder.kill()  # as a kill -9 or a lost node ends a run: no chance to clean up
        holder.wait()
    with caplog.at_level(logging.INFO):
        trainer.train()
    assert f"taking over {tmp_path / 'run.lock'} from a run that is gone (host {socket.gethostname()}, " \
           f"pid {holder.pid}" in caplog.text
    assert (tmp_path / "model_final.pth").exists() and (tmp_path / "run.lock").read_text() == ""


def test_the_lock_is_held_within_one_process_too(tmp_path):
    with OutputDirLock(tmp_path), pytest.raises(OutputDirError, match="in use by a live training run"):
        OutputDirLock(tmp_path).acquire()
    with OutputDirLock(tmp_path):  # released on leaving
        pass


@pytest.mark.parametrize("where", ["under a file", "/proc"])
def test_an_output_dir_that_cannot_be_written_stops_the_run_at_start_up(tmp_path, small_run, where):
    from resnet_det.engine.cls_trainer import ClassificationTrainer
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "out" if where == "under a file" else "/proc/resnet_det_out"
    with pytest.raises(OutputDirError, match=f"OUTPUT_DIR {out} is not writable .*; give a folder"):
        ClassificationTrainer(small_run("cls", out))
