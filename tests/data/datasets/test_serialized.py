"""Records in one shared byte buffer: each read is a fresh, equal copy."""
import numpy as np

from resnet_det.data.datasets.serialized import SerializedList


def test_items_come_back_equal_and_unshared():
    items = [{"boxes": np.arange(8, dtype=np.float32).reshape(2, 4), "segmentations": [[1.5, 2.0, 3.0]]}, "x", [], 7]
    records = SerializedList(items)
    assert len(records) == 4 and records[1] == "x" and records[2] == [] and records[3] == 7
    first = records[0]
    assert np.array_equal(first["boxes"], items[0]["boxes"]) and first["segmentations"] == [[1.5, 2.0, 3.0]]
    first["boxes"][0, 0] = 99  # a copy: writable, and the buffer keeps the original
    assert records[0]["boxes"][0, 0] == 0
    assert records.nbytes < 1000


def test_an_empty_list():
    assert len(SerializedList([])) == 0
