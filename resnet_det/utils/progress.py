"""Progress of a long loop that a person can follow: a bar on a terminal, log lines in a batch job's log."""
from __future__ import annotations

import datetime
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from resnet_det.utils.distributed import is_main_process

T = TypeVar("T")
logger = logging.getLogger(__name__)


def track(items: Iterable[T], desc: str, unit: str = "items", total: int | None = None, interval: float = 30.0,
          bar: bool | None = None) -> Iterator[T]:
    """Yield ``items``, reporting how far along they are on the main process.

    ``bar`` None: a tqdm bar when stderr is a terminal, else one INFO line every ``interval``
    seconds (``desc: done/total unit in elapsed (s each), eta``) and one at the end. ``total`` defaults to
    ``len(items)`` where it has one; without it there is no ETA.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if not is_main_process():
        yield from items
        return
    if bar if bar is not None else sys.stderr.isatty():
        yield from tqdm(items, desc=desc, total=total, unit=f" {unit}", dynamic_ncols=True)
        return
    start = last = time.perf_counter()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.perf_counter()
        if now - last >= interval:
            last = now
            logger.info("%s", _line(desc, unit, done, total, now - start))
    logger.info("%s", _line(desc, unit, done, total, time.perf_counter() - start))


def _line(desc: str, unit: str, done: int, total: int | None, elapsed: float) -> str:
    per_item = elapsed / max(done, 1)
    of = total if total is not None else "?"
    line = f"{desc}: {done}/{of} {unit} in {datetime.timedelta(seconds=round(elapsed))}"
    line += f" ({per_item:.3f} s each)"
    if total is not None and done < total:
        line += f", eta {datetime.timedelta(seconds=round(per_item * (total - done)))}"
    return line
