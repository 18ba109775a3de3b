"""Pickled weight files: plain data and numeric arrays load; code, object arrays and sizes a file
cannot back are refused before anything runs or is allocated."""
import pickle
import re
import struct
import tracemalloc
from collections import OrderedDict

import numpy as np
import pytest

from resnet_det.utils.safe_pickle import UnsafePickleError, safe_pickle_load, safe_pickle_loads


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_data_and_numeric_arrays_load_as_written(protocol):
    data = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "n": np.int64(7), "f": np.float64(0.5),
            "o": OrderedDict(a=1), "b": b"bytes", "t": (1, "x")}
    back = safe_pickle_loads(pickle.dumps(data, protocol=protocol))
    assert back.keys() == data.keys() and np.array_equal(back["w"], data["w"]) and back["w"].dtype == np.float32
    assert (back["n"], back["f"], back["o"], back["b"], back["t"]) == (7, 0.5, OrderedDict(a=1), b"bytes", (1, "x"))


class _HugeArray:
    """Pickles as numpy's own array reconstructor asked for far more than the file holds."""

    def __reduce__(self):
        return np.ndarray.__reduce__(np.zeros(0, np.uint8))[0], (np.ndarray, (8 * 10**9,), b"b")


def _refused_with_peak(path) -> tuple[str, int]:
    """The refusal's message and the peak bytes traced while reading ``path``."""
    tracemalloc.start()
    try:
        with pytest.raises(UnsafePickleError) as err:
            safe_pickle_load(path)
        return str(err.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _SharedBytesArray:
    """Pickles as an array whose bytes are one object shared (memoised) by every such array."""

    raw = b"\0" * 100_000

    def __reduce__(self):
        rebuild = np.ndarray.__reduce__(np.zeros(0, np.uint8))[0]
        return rebuild, (np.ndarray, (0,), b"b"), (1, (len(self.raw),), np.dtype("u1"), False, self.raw)


@pytest.mark.parametrize("data, match", [
    pytest.param(pickle.dumps({"w": _HugeArray()}, protocol=2),
                 r"its arrays claim more bytes \(8000000000 more, with \d+ left\)", id="array larger than the file"),
    pytest.param(b"\x80\x04B" + struct.pack("<I", 0xFFFFFFF0) + b"tiny.", "claims more data than it holds",
                 id="bytes of 4 GB"),
    pytest.param(pickle.dumps([_SharedBytesArray() for _ in range(3000)], protocol=2),
                 "its arrays claim more bytes", id="3000 arrays of one 100 KB bytes object"),
    pytest.param(b"\x80\x02N" + b"r" + struct.pack("<I", 100_000_000) + b".", "memo slot 100000000",
                 id="memo slot 1e8"),
    pytest.param(b"\x80\x02cnumpy\nndarray\n(J\x00\x00\x00\x10tR.", "calls numpy.ndarray directly",
                 id="ndarray called on a shape"),
])
def test_a_size_the_file_cannot_back_is_refused_before_it_is_allocated(tmp_path, data, match):
    (tmp_path / "w.pkl").write_bytes(data)
    message, peak = _refused_with_peak(tmp_path / "w.pkl")
    assert re.search(match, message)
    assert peak < 10 * 2**20, f"{peak} bytes allocated for a file of {len(data)}"


def test_an_object_array_is_refused_by_name():
    payload = pickle.dumps({"w": np.array([1, "os.system"], dtype=object)}, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"object array \(dtype object\)"):
        safe_pickle_loads(payload)
