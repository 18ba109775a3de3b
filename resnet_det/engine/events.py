"""Training metrics as an event stream: ``OUTPUT_DIR/metrics.json``, one JSON object per line (the
file detectron2's ``JSONWriter`` writes and its users' plotting scripts read), mirrored to
TensorBoard; written by the main process only. A resumed run appends, so a reader lets later
lines of an iteration win."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from resnet_det.utils.distributed import is_main_process


class EventWriter:
    """Appends one JSON object per call to ``metrics.json`` and mirrors scalars to TensorBoard."""

    def __init__(self, output_dir: str | Path, tensorboard: bool = True) -> None:
        self.enabled = is_main_process()
        self._tb = None
        if not self.enabled:
            return
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(output_dir / "metrics.json", "a", buffering=1)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # slow import; only where used
            self._tb = SummaryWriter(str(output_dir / "tensorboard"))

    def write(self, iteration: int, **scalars: Any) -> None:
        if not self.enabled:
            return
        self._file.write(json.dumps({"iteration": iteration, **scalars}) + "\n")
        if self._tb is not None:
            for key, value in scalars.items():
                if isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, iteration)

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            if self._tb is not None:
                self._tb.close()
