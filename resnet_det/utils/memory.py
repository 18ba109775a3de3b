"""Host memory freed by large temporaries going back to the system, so a long evaluation does not grow.

glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so from then on
blocks of that size come from the heap, between small long-lived objects, and freed ones stay
resident. Mask evaluation frees tens of MB per image (the pasted masks, copied to the host to be
encoded) between the small records it keeps: without a trim the process grew by about 8 MB an
image (BENCHMARKS.md). Fixing the threshold instead made 16 CPU training steps of the demo take 27%
longer (13.5 s against 17.1 s).
"""
from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc


def release_free_memory() -> bool:
    """Give the pages of freed heap blocks back to the system (glibc's ``malloc_trim``, about 2 ms);
    False where malloc is not glibc's."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
