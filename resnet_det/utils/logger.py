"""Where a run's log goes: the console and ``OUTPUT_DIR/log.txt``, as detectron2 arranges it."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"
_DATE_FORMAT = "%m/%d %H:%M:%S"


def setup_logger(output_dir: str | Path | None = None, rank: int = 0) -> logging.Logger:
    """Log INFO and above from the main process (WARNING and above from the others) to stderr and,
    with ``output_dir``, to ``output_dir/log.txt`` (``log.txt.rank<N>`` for rank N > 0, every level
    from INFO). Calling it again replaces the handlers it installed before, so a process that runs
    several tools logs each to its own folder once."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_resnet_det", False)]:
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(_FORMAT, datefmt=_DATE_FORMAT)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    handlers: list[logging.Handler] = [console]
    if output_dir is not None:
        path = Path(output_dir) / ("log.txt" if rank == 0 else f"log.txt.rank{rank}")
        path.parent.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(path, mode="a", encoding="utf-8")
        file.setLevel(logging.INFO)
        handlers.append(file)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._resnet_det = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    return root
