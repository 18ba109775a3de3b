import pytest

from resnet_det.data.datasets.coco import CocoDetection
from resnet_det.data.datasets.shapes_detection import DETECTION_SHAPES, shapes_detection_split


def test_generated_once_deterministically_with_exact_masks(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_DET_CACHE", str(tmp_path / "a"))
    json_a, images_a = shapes_detection_split("val")
    stamp = json_a.stat().st_mtime_ns
    assert shapes_detection_split("val")[0].stat().st_mtime_ns == stamp  # cached, not rewritten
    monkeypatch.setenv("RESNET_DET_CACHE", str(tmp_path / "b"))
    json_b, _ = shapes_detection_split("val")
    assert json_a.read_text() == json_b.read_text()

    dataset = CocoDetection(json_a, images_a, mask_format="bitmask")
    assert len(dataset) == 48 and len(dataset.category_ids) == len(DETECTION_SHAPES)
    _, target = dataset[3]
    for box, mask in zip(target["boxes"], target["masks"]):
        ys, xs = mask.nonzero(as_tuple=True)
        assert box.tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    with pytest.raises(KeyError, match="split"):
        shapes_detection_split("test")
