"""Load ``.pkl`` weight files without letting them run code or claim more memory than they hold.

A pickle names functions to call while it loads; a hostile one names ``os.system``. This
unpickler admits only what weight files need: plain containers, numbers, strings and numpy
arrays of numbers. Anything else stops the load before it is imported. An array's size is
checked against the file's before it is allocated (an honest pickle carries every byte of its
arrays), and object arrays, which can hold any Python object, are refused.
"""
from __future__ import annotations

import io
import math
import os
import pickle
import pickletools
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

_PLAIN_GLOBALS = {
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes under protocol 2
    ("numpy", "ndarray"),
}
# numpy's reconstructors (under both of its module names), called only after their arguments are checked.
_CHECKED_GLOBALS = {
    ("numpy", "dtype"),
    *((module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
      for name in ("_reconstruct", "scalar")),
    *(("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something other than plain data, or more memory than it holds."""


def _numeric_dtype(spec: Any) -> np.dtype:
    dtype = spec if isinstance(spec, np.dtype) else np.dtype(spec)
    if dtype.hasobject:
        raise UnsafePickleError(f"it holds an object array (dtype {dtype}), which can carry any Python object; "
                                "weight files hold numbers, so it was not loaded")
    return dtype


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only plain data, numpy arrays of numbers up to ``max_bytes`` each."""

    def __init__(self, file: BinaryIO, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.max_bytes = max_bytes

    def _checked(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        """``real`` (numpy's own reconstructor ``name``) called only on arguments that pass the checks."""
        def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
            if subtype is not np.ndarray:
                raise UnsafePickleError(f"it asks for an array of type {subtype!r}, not numpy.ndarray")
            size = math.prod(shape if isinstance(shape, tuple) else (shape,)) * _numeric_dtype(dtype).itemsize
            if size > self.max_bytes:
                raise UnsafePickleError(f"it claims an array of {size} bytes in a file of {self.max_bytes}")
            return real(subtype, shape, dtype)

        def with_dtype_first(dtype: Any, *args: Any) -> Any:  # dtype(...), scalar(dtype, data)
            return _numeric_dtype(real(dtype, *args)) if name == "dtype" else real(_numeric_dtype(dtype), *args)

        def frombuffer(buffer: Any, dtype: Any, *args: Any) -> Any:
            return real(buffer, _numeric_dtype(dtype), *args)

        special: dict[str, Callable[..., Any]] = {"_reconstruct": reconstruct, "_frombuffer": frombuffer}
        return special.get(name, with_dtype_first)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_GLOBALS:
            return super().find_class(module, name)
        if (module, name) in _CHECKED_GLOBALS:
            return self._checked(name, super().find_class(module, name))
        raise UnsafePickleError(
            f"it asks to use {module}.{name}, which is not plain data; a pickle that calls "
            "functions can run arbitrary code, so it was not loaded")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("it uses persistent ids, which plain weight files never do")


def safe_pickle_loads(data: bytes | memoryview) -> Any:
    """Unpickle ``data`` (Python 2 pickles included, as detectron2 reads them)."""
    return RestrictedUnpickler(io.BytesIO(data), max(len(data), 1), encoding="latin1").load()


def _check_lengths(data: bytes) -> None:
    """Refuse a pickle that claims a string or bytes object longer than the data left: the C unpickler
    allocates a claimed length before reading it. pickletools reads each argument from memory, where
    a claim past the end is an error, not an allocation."""
    try:
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except ValueError as e:
        raise UnsafePickleError(f"it is malformed or claims more data than it holds ({e})") from None


def safe_pickle_load(file: str | os.PathLike | BinaryIO) -> Any:
    """:func:`safe_pickle_loads` of a whole file, whose every claimed length is checked first."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return safe_pickle_load(f)
    data = file.read()
    _check_lengths(data)
    return safe_pickle_loads(data)
