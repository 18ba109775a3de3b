"""Detection batches over a dataset with an unreadable image: skipped (logged) or a named error."""
import logging

import pytest
import torch

from resnet_det.data.coco import CocoDetection
from resnet_det.data.detection_batches import DetectionBatches, eval_batches
from resnet_det.data.image_io import ImageDecodeError


@pytest.fixture
def four_with_a_corrupt_one(tmp_path, tiny_coco):
    json_file = tiny_coco(tmp_path, [{"image_id": i, "bbox": [5, 5, 20, 20]} for i in range(1, 5)], n_images=4)
    (tmp_path / "2.png").write_bytes((tmp_path / "2.png").read_bytes()[:300])  # truncated
    return CocoDetection(json_file, tmp_path, with_masks=False)


def _batches(dataset, on_bad_image: str) -> DetectionBatches:
    return DetectionBatches(dataset, "four", 2, seed=0, flip=True, min_sizes=(40,), sampling="choice",
                            device=torch.device("cpu"), num_workers=0, on_bad_image=on_bad_image)


def test_training_skips_the_image_and_says_so(four_with_a_corrupt_one, caplog):
    with caplog.at_level(logging.WARNING):
        seen = [t["image_id"] for _, (images, targets) in zip(range(6), _batches(four_with_a_corrupt_one, "skip").iterate(0))
                for t in targets]
    assert len(seen) == 12 and 2 not in seen and {1, 3, 4} <= set(seen)
    assert "2.png: corrupt or truncated PNG" in caplog.text


def test_training_fails_on_it_when_asked(four_with_a_corrupt_one):
    with pytest.raises(ImageDecodeError, match="2.png: corrupt or truncated PNG"):
        for _ in zip(range(6), _batches(four_with_a_corrupt_one, "fail").iterate(0)):
            pass


def test_evaluation_keeps_its_annotations_without_the_image(four_with_a_corrupt_one):
    pairs = [(im, t) for images, targets in eval_batches(four_with_a_corrupt_one, 3, 0) for im, t in zip(images, targets)]
    assert [t["image_id"] for _, t in pairs] == [1, 2, 3, 4]
    assert [im is None for im, _ in pairs] == [False, True, False, False]
    assert pairs[1][1]["boxes"].shape == (1, 4)
    with pytest.raises(ImageDecodeError, match="2.png"):
        list(eval_batches(four_with_a_corrupt_one, 3, 0, on_bad_image="fail"))
