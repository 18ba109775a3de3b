"""Checking COCO json files: broken files are named errors, bad annotations are dropped and counted."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from resnet_det.data.datasets.coco_file import CocoFormatError, load_coco_json, rle_string_counts, segmentation_problem

_POLYGON = [[1, 1, 8, 1, 8, 8]]


def _file(tmp_path, images=None, annotations=None, categories=None, raw: str | None = None):
    path = tmp_path / "instances.json"
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 10}] if images is None else images,
            "annotations": [] if annotations is None else annotations,
            "categories": [{"id": 3, "name": "cat"}] if categories is None else categories}
    path.write_text(json.dumps(data) if raw is None else raw)
    return path


def _ann(i: int, **fields):
    return {"id": i, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 0, **fields}


@pytest.mark.parametrize("kwargs,problem", [
    ({"raw": '{"images": [}'}, r"malformed JSON at line 1 column 13"),
    ({"raw": "[1, 2]"}, "not a COCO instances file"),
    ({"raw": '{"annotations": []}'}, "not a COCO instances file"),
    ({"images": {"id": 1}}, "'images' must be a list"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}]}, r"images\[0\] needs an integer id, a file_name and positive"),
    ({"images": [{"id": "1", "file_name": "a.jpg", "width": 2, "height": 2}]}, r"images\[0\] needs"),
    ({"images": [{"id": 1, "file_name": "a.jpg", "width": 0, "height": 2}]}, r"images\[0\] needs"),
    ({"images": [{"id": 1, "file_name": "a.jpg", "width": 2, "height": 2},
                 {"id": 1, "file_name": "b.jpg", "width": 2, "height": 2}]},
     r"1 duplicate image ids.*1 \(a.jpg, b.jpg\)"),
    ({"categories": [{"id": 3, "name": "cat"}, {"id": 3, "name": "dog"}]}, r"duplicate category ids \[3\]"),
    ({"categories": [{"id": 3}]}, "'categories' must be a list of"),
    ({"annotations": {"id": 1}}, "'annotations' must be a list"),
    ({"annotations": [_ann(7), _ann(7)]}, r"annotation id 7 is used twice \(annotations\[0\] and annotations\[1\]\)"),
    ({"annotations": [_ann(None)]}, r"annotations\[0\] has no integer id"),
])
def test_broken_files_are_errors_naming_file_and_problem(tmp_path, kwargs, problem):
    path = _file(tmp_path, **kwargs)
    with pytest.raises(CocoFormatError, match=f"instances.json: {problem}"):
        load_coco_json(path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "instances.json"
    path.write_bytes(b'{"images": "\xff\xfe"}')
    with pytest.raises(CocoFormatError, match="instances.json: not UTF-8"):
        load_coco_json(path)


def test_bad_annotations_are_dropped_counted_and_logged(tmp_path, caplog):
    annotations = [
        _ann(1, segmentation=_POLYGON),
        _ann(2, image_id=99),
        _ann(3, category_id=91),
        _ann(4, bbox=[1, 1, 5]),
        _ann(5, bbox=[1, 1, float("nan"), 5]),
        _ann(6, segmentation=[[1, 1, 8, 1]]),
        _ann(7, segmentation=[[1, 1, 8, 1, 8]]),
        _ann(8, segmentation={"size": [10, 20], "counts": [50, 20]}),
        _ann(9, segmentation={"size": [20, 10], "counts": [200]}),
        _ann(10, segmentation={"size": [10, 20], "counts": [150, 50]}),
        _ann(11, iscrowd=1, segmentation=mask_utils.encode(np.asfortranarray(np.ones((10, 20), np.uint8)))
             | {"counts": "garbage!"}),
        "not an annotation",
    ]
    annotations[10]["segmentation"]["size"] = [10, 20]
    data, drops = load_coco_json(_file(tmp_path, annotations=annotations))
    assert [a["id"] for a in data["annotations"]] == [1, 10]
    assert drops == {"unknown image_id": 1, "unknown category_id": 1, "bbox is not four finite numbers": 2,
                     "malformed segmentation": 5, "not an object": 1}
    assert "dropped 10 of 12 annotations" in caplog.text
    assert "annotations[5]: malformed segmentation (polygon with 4" in caplog.text


@pytest.mark.parametrize("seed", range(5))
def test_rle_string_counts_match_pycocotools(seed):
    rng = np.random.default_rng(seed)
    mask = np.asfortranarray(rng.random((37, 53)) < rng.random())
    rle = mask_utils.encode(mask.astype(np.uint8))
    runs = rle_string_counts(rle["counts"].decode())
    decoded = np.repeat(np.arange(len(runs)) % 2, runs).reshape(53, 37).T
    assert sum(runs) == 37 * 53 and np.array_equal(decoded, mask)
    assert segmentation_problem({"size": [37, 53], "counts": rle["counts"].decode()}, 37, 53) is None
    cut = {"size": [37, 53], "counts": rle["counts"].decode() + "P"}  # "P" says another 6-bit group follows
    assert segmentation_problem(cut, 37, 53) == "RLE string ends inside a run length"


@given(st.text(alphabet=st.sampled_from([chr(c) for c in range(44, 116)]), max_size=40))
def test_fast_rle_decoding_agrees_with_the_exact_loop_on_any_string(counts):
    from resnet_det.data.datasets.coco_file import _rle_string_counts_python

    def outcome(decode):
        try:
            return decode(counts)
        except ValueError as e:
            return str(e)
    assert outcome(rle_string_counts) == outcome(_rle_string_counts_python)


def test_fast_rle_decoding_takes_real_masks_and_defers_long_numbers():
    from resnet_det.data.datasets.coco_file import _rle_string_counts_numpy, _rle_string_counts_python
    mask = np.zeros((480, 640), np.uint8)
    mask[100:300, 200:400] = 1
    counts = mask_utils.encode(np.asfortranarray(mask))["counts"].decode()
    assert _rle_string_counts_numpy(counts).tolist() == _rle_string_counts_python(counts)
    assert _rle_string_counts_numpy("ooooooo0") is None  # a 40-bit number: the exact loop decodes it


_value = st.one_of(st.none(), st.booleans(), st.integers(-5, 30), st.floats(allow_subnormal=False), st.text(max_size=3))
_annotation = st.fixed_dictionaries({
    "id": st.integers(0, 10**6), "image_id": st.one_of(st.integers(0, 3), _value),
    "category_id": st.one_of(st.sampled_from([3, 4]), _value),
    "bbox": st.one_of(st.lists(st.floats(-10, 30, allow_subnormal=False), min_size=4, max_size=4),
                      st.lists(_value, max_size=5), _value),
}, optional={
    "segmentation": st.one_of(
        st.lists(st.lists(st.floats(0, 20, allow_subnormal=False), max_size=10), max_size=3),
        st.fixed_dictionaries({"size": st.sampled_from([[10, 20], [20, 10], [1]]),
                               "counts": st.one_of(st.lists(st.integers(-5, 200), max_size=5), st.text(max_size=8))}),
        _value),
    "iscrowd": st.sampled_from([0, 1]),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_annotation, _value), max_size=12,
                unique_by=lambda a: a["id"] if isinstance(a, dict) else id(a)))
def test_any_annotation_list_is_kept_valid_or_dropped_never_a_crash(tmp_path_factory, annotations):
    path = _file(tmp_path_factory.mktemp("fuzz"), annotations=annotations,
                 categories=[{"id": 3, "name": "cat"}, {"id": 4, "name": "dog"}])
    data, drops = load_coco_json(path)
    assert len(data["annotations"]) + sum(drops.values()) == len(annotations)
    for ann in data["annotations"]:
        assert ann["image_id"] == 1 and ann["category_id"] in (3, 4)
        assert len(ann["bbox"]) == 4 and all(np.isfinite(ann["bbox"]))
        if "segmentation" in ann:  # what is kept rasterises without error
            rle = mask_utils.frPyObjects(ann["segmentation"], 10, 20)
            mask_utils.decode(rle if isinstance(rle, list) else [rle])
