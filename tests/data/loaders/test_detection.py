"""Detection batches: an unreadable image is skipped (logged) or a named error; flips keep targets consistent."""
import logging
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from resnet_det.data.datasets.coco import CocoDetection
from resnet_det.data.decode.files import ImageDecodeError
from resnet_det.data.loaders.detection import DetectionBatches, eval_batches, hflip

# Two kinds of unusable image: a truncated file, and one so thin that resizing it for the detector
# (shorter side 40, longest 1333) would leave it 0 pixels tall; both go through the bad-image policy.
BAD_IMAGES = {"truncated": "2.png: corrupt or truncated PNG",
              "too thin": r"2.png: 1 x 3000 image would be resized to 0 x 1333"}


@pytest.fixture(params=BAD_IMAGES)
def four_with_a_bad_one(request, tmp_path, tiny_coco):
    import json

    import cv2
    import numpy as np
    json_file = tiny_coco(tmp_path, [{"image_id": i, "bbox": [0, 0, 20, 1]} for i in range(1, 5)], n_images=4)
    if request.param == "truncated":
        (tmp_path / "2.png").write_bytes((tmp_path / "2.png").read_bytes()[:300])
    else:
        cv2.imwrite(str(tmp_path / "2.png"), np.zeros((1, 3000, 3), np.uint8))
        data = json.loads(json_file.read_text())
        data["images"][1].update(height=1, width=3000)
        json_file.write_text(json.dumps(data))
    return CocoDetection(json_file, tmp_path, with_masks=False), BAD_IMAGES[request.param]


def _batches(dataset, on_bad_image: str) -> DetectionBatches:
    return DetectionBatches(dataset, "four", 2, seed=0, flip=True, min_sizes=(40,), sampling="choice",
                            device=torch.device("cpu"), num_workers=0, on_bad_image=on_bad_image, max_size=1333)


def test_training_skips_the_image_and_says_so(four_with_a_bad_one, caplog):
    dataset, message = four_with_a_bad_one
    with caplog.at_level(logging.WARNING):
        seen = [t["image_id"] for _, batch in zip(range(6), _batches(dataset, "skip").iterate(0))
                for t in batch.targets]
    assert len(seen) == 12 and 2 not in seen and {1, 3, 4} <= set(seen)
    assert re.search(message, caplog.text)


def test_training_fails_on_it_when_asked(four_with_a_bad_one):
    dataset, message = four_with_a_bad_one
    with pytest.raises(ImageDecodeError, match=message):
        for _ in zip(range(6), _batches(dataset, "fail").iterate(0)):
            pass


def test_evaluation_keeps_its_annotations_without_the_image(four_with_a_bad_one):
    dataset, message = four_with_a_bad_one
    resize = (40, 1333)
    pairs = [(im, t) for b in eval_batches(dataset, 3, 0, resize=resize) for im, t in zip(b.images, b.targets)]
    assert [t["image_id"] for _, t in pairs] == [1, 2, 3, 4]
    assert [im is None for im, _ in pairs] == [False, True, False, False]
    assert pairs[1][1]["boxes"].shape == (1, 4)
    with pytest.raises(ImageDecodeError, match=message):
        list(eval_batches(dataset, 3, 0, on_bad_image="fail", resize=resize))


@given(st.integers(2, 30), st.integers(2, 30), st.data())
def test_flip_keeps_boxes_on_their_masks(height, width, data):
    x1 = data.draw(st.integers(0, width - 1))
    x2 = data.draw(st.integers(x1 + 1, width))
    y1 = data.draw(st.integers(0, height - 1))
    y2 = data.draw(st.integers(y1 + 1, height))
    masks = torch.zeros(1, height, width, dtype=torch.uint8)
    masks[0, y1:y2, x1:x2] = 1
    image = torch.randint(0, 255, (3, height, width), dtype=torch.uint8)
    target = {"boxes": torch.tensor([[x1, y1, x2, y2]], dtype=torch.float32), "masks": masks}
    flipped_image, flipped = hflip(image, target)
    ys, xs = flipped["masks"][0].nonzero(as_tuple=True)
    # The box is in pixel edges: the mask's last column x is covered by the edge x + 1.
    assert flipped["boxes"][0].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    again_image, again = hflip(flipped_image, flipped)
    assert torch.equal(again_image, image) and torch.equal(again["boxes"], target["boxes"])
    assert torch.equal(again["masks"], masks) and torch.equal(target["masks"], masks)  # input untouched


def test_flip_mirrors_polygons_as_it_mirrors_their_masks():
    from resnet_det.data.datasets.coco import segmentation_mask
    polygon = np.array([3.0, 2.0, 20.0, 4.0, 11.0, 17.0])
    image = torch.zeros(3, 20, 25, dtype=torch.uint8)
    target = {"boxes": torch.tensor([[3.0, 2.0, 20.0, 17.0]]), "polygons": [[polygon], None]}
    _, flipped = hflip(image, target)
    mask = segmentation_mask([polygon.tolist()], 20, 25)
    assert np.array_equal(segmentation_mask([flipped["polygons"][0][0].tolist()], 20, 25), mask[:, ::-1])
    assert flipped["polygons"][1] is None and np.array_equal(target["polygons"][0][0], polygon)  # input untouched
