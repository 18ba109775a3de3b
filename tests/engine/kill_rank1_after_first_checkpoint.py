"""Run tools/train_cls.py under torchrun, but on the first attempt rank 1 dies (SIGKILL) as soon as a
checkpoint exists, as a lost node would. Used by test_faults.py."""
import os
import runpy
import signal
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
output_dir = Path(sys.argv[sys.argv.index("OUTPUT_DIR") + 1])


def _die_after_first_checkpoint() -> None:
    while not (output_dir / "last_checkpoint").exists():
        time.sleep(0.02)
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)


if os.environ["RANK"] == "1" and os.environ["TORCHELASTIC_RESTART_COUNT"] == "0":
    threading.Thread(target=_die_after_first_checkpoint, daemon=True).start()
sys.argv = [str(REPO / "tools/train_cls.py"), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")
