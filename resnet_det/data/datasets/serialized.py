"""A list of records held as one byte buffer, which DataLoader workers share with the main process.

A list of Python dicts is copied into every forked worker page by page as the worker reads it (each
read writes a reference count), so N workers end up holding N copies; detectron2 serialises its
dataset dicts for this reason. Here the records are pickled into one numpy byte array and an array
of offsets: reading one unpickles a fresh copy and writes nothing to the shared pages.
"""
from __future__ import annotations

import pickle
from collections.abc import Iterable
from typing import Any

import numpy as np

from resnet_det.utils.safe_pickle import safe_pickle_loads


class SerializedList:
    """``items`` pickled into one buffer; ``self[i]`` is a fresh copy of item ``i``."""

    def __init__(self, items: Iterable[Any]) -> None:
        blobs = [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]
        self._ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
        self._buffer = np.frombuffer(b"".join(blobs), dtype=np.uint8)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> Any:
        start = int(self._ends[index - 1]) if index > 0 else 0
        # What this process pickled itself; read back through the restricted unpickler all the same.
        return safe_pickle_loads(self._buffer[start:int(self._ends[index])].data)

    @property
    def nbytes(self) -> int:
        """The bytes held: the buffer and its offsets."""
        return self._buffer.nbytes + self._ends.nbytes
