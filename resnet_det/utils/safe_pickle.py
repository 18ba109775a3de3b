"""Load ``.pkl`` weight files without letting them run code or claim more memory than they hold.

A pickle names functions to call while it loads; a hostile one names ``os.system``. This
unpickler admits only what weight files need: plain containers, numbers, strings and numpy
arrays of numbers. Anything else stops the load before it is imported. Every array is built
through numpy's own reconstructor with its arguments checked: object arrays, which can hold any
Python object, are refused, and the arrays of one load may hold no more bytes in all than the data
they were read from (an honest pickle carries every byte of its arrays once).
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
}
# numpy's reconstructors (under both of its module names), called only after their arguments are checked.
_CHECKED_GLOBALS = {
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
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


class _Budget:
    """The bytes the arrays of one load may still take."""

    def __init__(self, total: int) -> None:
        self.left = total

    def take(self, shape: Any, dtype: Any) -> None:
        dims = shape if isinstance(shape, tuple) else (shape,)
        if not all(isinstance(d, int) and d >= 0 for d in dims):
            raise UnsafePickleError(f"it asks for an array of shape {shape!r}")
        size = math.prod(dims) * _numeric_dtype(dtype).itemsize
        if size > self.left:
            raise UnsafePickleError(f"its arrays claim more bytes ({size} more, with {self.left} left) than the "
                                    "data holds")
        self.left -= size


def _checked_array_type(budget: _Budget) -> type[np.ndarray]:
    """An ndarray type whose unpickled state is charged to ``budget`` before numpy copies it in."""
    class CheckedArray(np.ndarray):
        def __setstate__(self, state: Any) -> None:
            if not (isinstance(state, tuple) and len(state) == 5):
                raise UnsafePickleError("it holds an array in an unknown pickled form")
            budget.take(state[1], state[2])
            super().__setstate__(state)

    return CheckedArray


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only plain data and numpy arrays of numbers, ``max_bytes`` of them in all."""

    def __init__(self, file: BinaryIO, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.budget = _Budget(max_bytes)
        self.array_type = _checked_array_type(self.budget)

    def _checked(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        """``real`` (numpy's own reconstructor ``name``) called only on arguments that pass the checks."""
        def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
            if subtype is not _NDARRAY:
                raise UnsafePickleError(f"it asks for an array of type {subtype!r}, not numpy.ndarray")
            self.budget.take(shape, dtype)
            return real(self.array_type, shape, dtype)

        def with_dtype_first(dtype: Any, *args: Any) -> Any:  # dtype(...), scalar(dtype, data)
            return _numeric_dtype(real(dtype, *args)) if name == "dtype" else real(_numeric_dtype(dtype), *args)

        def frombuffer(buffer: Any, dtype: Any, shape: Any, order: str) -> Any:
            self.budget.take(shape, dtype)  # a view of the data, but one that later copies would multiply
            return real(buffer, _numeric_dtype(dtype), shape, order)

        special: dict[str, Callable[..., Any]] = {"_reconstruct": reconstruct, "_frombuffer": frombuffer}
        return special.get(name, with_dtype_first)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("numpy", "ndarray"):
            return _NDARRAY  # only ever an argument of _reconstruct: never called, so never given a buffer
        if (module, name) in _CHECKED_GLOBALS:
            return self._checked(name, super().find_class(module, name))
        raise UnsafePickleError(
            f"it asks to use {module}.{name}, which is not plain data; a pickle that calls "
            "functions can run arbitrary code, so it was not loaded")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("it uses persistent ids, which plain weight files never do")


class _NDArrayName:
    """What ``numpy.ndarray`` means inside a pickle: a name for :func:`_reconstruct`, not a constructor."""

    def __call__(self, *args: Any) -> Any:
        raise UnsafePickleError("it calls numpy.ndarray directly (an array over a buffer it names), which an "
                                "array's own pickle never does")


_NDARRAY = _NDArrayName()


def safe_pickle_loads(data: bytes | memoryview) -> Any:
    """Unpickle ``data`` (Python 2 pickles included, as detectron2 reads them). Its arrays are of a
    checked subclass of ``numpy.ndarray``."""
    return RestrictedUnpickler(io.BytesIO(data), len(data), encoding="latin1").load()


_MEMO_OPCODES = {"PUT", "BINPUT", "LONG_BINPUT"}


def _check_structure(data: bytes) -> None:
    """Refuse a pickle that claims more than it holds before the C unpickler allocates the claim: a
    string or bytes object longer than the data left, or a memo slot far beyond the objects made
    (the unpickler sizes its memo table by the largest slot). pickletools reads each argument from
    memory, where a claim past the end is an error, not an allocation."""
    try:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(io.BytesIO(data)), 1):
            if opcode.name in _MEMO_OPCODES and isinstance(arg, int) and arg > count:
                raise UnsafePickleError(f"it stores an object in memo slot {arg} after {count} opcodes")
    except (ValueError, TypeError) as e:
        raise UnsafePickleError(f"it is malformed or claims more data than it holds ({e})") from None


def safe_pickle_load(file: str | os.PathLike | BinaryIO) -> Any:
    """:func:`safe_pickle_loads` of a whole file, whose structure is checked first."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as f:
            return safe_pickle_load(f)
    data = file.read()
    _check_structure(data)
    return safe_pickle_loads(data)
