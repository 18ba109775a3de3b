"""PASCAL VOC xml: bad objects are clipped or dropped and counted; broken files name themselves."""
import logging
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_det.data.datasets.voc import VOCAnnotationError, VOCDetection, parse_voc_xml


def _xml(*objects: str, size: str = "<width>100</width><height>50</height>") -> str:
    return f"<annotation><size>{size}</size>{''.join(objects)}</annotation>"


def _object(name: str, box: tuple, difficult: int = 0) -> str:
    coords = "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
    return f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>{coords}</bndbox></object>"


def test_boxes_are_clipped_and_empty_or_unknown_objects_counted(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(_xml(_object("dog", (1, 1, 10, 10)), _object("cat", (-20, 5, 130, 60), 1),
                         _object("unicorn", (1, 1, 5, 5)), _object("car", (150, 1, 160, 10)),
                         _object("bus", (6, 5, 4, 9))))  # VOC corners are inclusive: 5..5 would be one pixel
    counts = Counter()
    ann = parse_voc_xml(path, counts)
    assert ann["boxes"] == [[0, 0, 10, 10], [0, 4, 100, 50]]
    assert ann["labels"] == [11, 7] and ann["difficult"] == [False, True]
    assert counts == {"unknown class 'unicorn'": 1, "box without area in the image": 2, "box clipped to the image": 1}


@pytest.mark.parametrize("text,problem", [
    ("<annotation><size><width>1</width></size>", "malformed xml"),
    (_xml(size="<width>100</width>"), "missing or malformed field"),
    (_xml(size="<width>wide</width><height>5</height>"), "missing or malformed field"),
    (_xml(size="<width>0</width><height>5</height>"), "image size 0 x 5 is not positive"),
    (_xml("<object><name>dog</name></object>"), "missing or malformed field"),
    (_xml(_object("dog", (1, "one", 5, 5))), "missing or malformed field"),
])
def test_broken_files_name_the_file_and_problem(tmp_path, text, problem):
    (tmp_path / "bad.xml").write_text(text)
    with pytest.raises(VOCAnnotationError, match=f"bad.xml: {problem}"):
        parse_voc_xml(tmp_path / "bad.xml")


def test_missing_annotation_file(tmp_path):
    with pytest.raises(VOCAnnotationError, match="gone.xml: annotation file missing"):
        parse_voc_xml(tmp_path / "gone.xml")


def test_repeated_split_ids_are_read_once(tmp_path, caplog):
    year = tmp_path / "VOC2007"
    (year / "ImageSets/Main").mkdir(parents=True)
    (year / "Annotations").mkdir()
    for image in ("000001", "000002"):
        (year / "Annotations" / f"{image}.xml").write_text(_xml(_object("dog", (1, 1, 10, 10))))
    (year / "ImageSets/Main/test.txt").write_text("000001\n000002\n000001\n\n")
    with caplog.at_level(logging.WARNING):
        dataset = VOCDetection(tmp_path, "2007", "test")
    assert dataset.ids == ["000001", "000002"] and "1 repeated image ids ignored" in caplog.text


_names = st.sampled_from(["dog", "person", "tvmonitor", "unicorn", " cat "])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 500), st.integers(1, 500),
       st.lists(st.tuples(_names, st.lists(st.integers(-100, 600), min_size=4, max_size=4)), max_size=8))
def test_kept_boxes_are_inside_the_image_and_every_object_is_accounted_for(tmp_path_factory, width, height, objects):
    path = tmp_path_factory.mktemp("voc") / "a.xml"
    path.write_text(_xml(*(_object(n, b) for n, b in objects), size=f"<width>{width}</width><height>{height}</height>"))
    counts = Counter()
    ann = parse_voc_xml(path, counts)
    dropped = sum(v for k, v in counts.items() if "clipped" not in k)
    assert len(ann["boxes"]) + dropped == len(objects)
    for x1, y1, x2, y2 in ann["boxes"]:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | st.text(alphabet="<>/ab01 sizewthobjecnmx", max_size=200))
def test_garbage_is_parsed_or_a_named_error(tmp_path_factory, garbage):
    path = tmp_path_factory.mktemp("voc") / "g.xml"
    path.write_bytes(garbage if isinstance(garbage, bytes) else garbage.encode())
    try:
        parse_voc_xml(path)
    except VOCAnnotationError as e:
        assert str(path) in str(e)
