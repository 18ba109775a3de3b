"""Load ``.pkl`` weight files without letting them run code.

A pickle names functions to call while it loads; a hostile one names ``os.system``. This
unpickler admits only what weight files need: plain containers, numbers, strings and numpy
arrays. Anything else stops the load before it is imported.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, BinaryIO

_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes under protocol 2
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    *((module, name)
      for module in ("numpy.core.multiarray", "numpy._core.multiarray")
      for name in ("_reconstruct", "scalar")),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something other than plain data."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``_ALLOWED_GLOBALS``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"it asks to use {module}.{name}, which is not plain data; a pickle that calls "
                "functions can run arbitrary code, so it was not loaded")
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("it uses persistent ids, which plain weight files never do")


def safe_pickle_load(file: str | os.PathLike | BinaryIO) -> Any:
    """Unpickle a weights file (Python 2 pickles included, as detectron2 reads them)."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return safe_pickle_load(f)
    return RestrictedUnpickler(file, encoding="latin1").load()
