import logging

import cv2
import numpy as np
import pytest
import torch

from resnet_det.data.datasets.coco import CocoDetection
from resnet_det.data.decode.files import ImageDecodeError


def test_coco128_targets(shared_data):
    coco = CocoDetection(shared_data / "coco128/annotations/instances_train2017.json",
                         shared_data / "coco128/train2017", mask_format="bitmask")
    assert len(coco) == 128 and len(coco.category_ids) == 80
    total_crowd = sum(a["iscrowd"] for a in coco.coco.dataset["annotations"])
    objects = 0
    for i in range(len(coco)):
        image, target = coco[i] if i < 8 else (None, None)
        if image is None:
            break
        n = len(target["boxes"])
        objects += n
        assert image.dtype == torch.uint8 and image.shape[0] == 3
        assert target["masks"].shape == (n, *image.shape[-2:])
        assert (target["boxes"][:, 2:] > target["boxes"][:, :2]).all() and (target["labels"] < 80).all()
        # Each mask lies inside its box (pycocotools rasterises the polygon of that box's object).
        for box, mask in zip(target["boxes"], target["masks"]):
            _, xs = mask.nonzero(as_tuple=True)
            assert xs.min() >= box[0] - 1 and xs.max() <= box[2] + 1
    assert total_crowd == 10 and objects > 0


def test_training_targets_equal_pycocotools_and_need_no_index(shared_data):
    files = (shared_data / "coco_mini/annotations/instances_val2017.json", shared_data / "coco_mini/val2017")
    evaluated, trained = CocoDetection(*files), CocoDetection(*files, mask_format="bitmask", ground_truth=False)
    assert trained.coco is None  # a training set keeps no per-annotation Python objects
    for i in range(len(evaluated)):
        target = trained.target(i)
        anns = [a for a in evaluated.coco.imgToAnns[evaluated.image_ids[i]] if not a.get("iscrowd", 0)]
        assert target["image_id"] == evaluated.image_ids[i]
        assert target["labels"].tolist() == [evaluated.contiguous[a["category_id"]] for a in anns]
        assert np.array_equal(target["masks"].numpy(), np.stack([evaluated.coco.annToMask(a) for a in anns]))
        x, y, w, h = torch.tensor([a["bbox"] for a in anns]).unbind(1)
        assert torch.allclose(target["boxes"], torch.stack([x, y, x + w, y + h], 1).clamp(min=0), atol=1e-4)


def test_orientation_comes_from_the_json_and_matches_the_pixels(shared_data):
    coco = CocoDetection(shared_data / "coco128/annotations/instances_train2017.json",
                         shared_data / "coco128/train2017", with_masks=False)
    flags = [coco.is_landscape(i) for i in range(len(coco))]
    assert 0 < sum(flags) < len(flags)  # coco128 has both orientations
    portrait = flags.index(False)
    for i in (0, portrait):
        height, width = coco[i][0].shape[-2:]
        assert coco.is_landscape(i) == (width > height)


def test_training_boxes_are_clipped_or_dropped_with_counts(tmp_path, caplog, tiny_coco):
    json_file = tiny_coco(tmp_path, [
        {"image_id": 1, "bbox": [10, 5, 20, 10]},
        {"image_id": 1, "bbox": [-5, 30, 30, 20]},  # sticks out left and below: clipped
        {"image_id": 1, "bbox": [70, 10, 5, 5]},  # wholly right of the image
        {"image_id": 1, "bbox": [5, 5, 0, 10]},  # no width
        {"image_id": 1, "bbox": [5, 5, -3, 10]},  # negative width
        {"image_id": 2, "bbox": [0, 0, 60, 40], "iscrowd": 1},  # image 2 is crowd-only; image 3 has nothing
    ])
    with caplog.at_level(logging.INFO):
        coco = CocoDetection(json_file, tmp_path, with_masks=False)
    assert coco.target(0)["boxes"].tolist() == [[10, 5, 30, 15], [0, 30, 25, 40]]
    assert [coco.has_usable_boxes(i) for i in range(3)] == [True, False, False]
    assert "1 clipped to the image, 1 dropped outside the image, 2 dropped without area" in caplog.text
    assert len(coco.coco.getAnnIds()) == 6  # evaluation sees the file as written


def test_image_that_disagrees_with_its_json_size_is_refused(tmp_path, tiny_coco):
    json_file = tiny_coco(tmp_path, [{"image_id": 1, "bbox": [10, 5, 20, 10]}])
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((60, 40, 3), np.uint8))
    coco = CocoDetection(json_file, tmp_path, with_masks=False)
    with pytest.raises(ImageDecodeError, match=r"1.png: image is 60 x 40 .* annotations say 40 x 60"):
        coco.read_image(0)
    assert coco.target(0)["boxes"].shape == (1, 4)  # the annotations stay readable for evaluation



def test_polygon_format_carries_polygons_and_decodes_only_rle_instances(tmp_path, tiny_coco):
    from pycocotools import mask as mask_utils

    from resnet_det.data.datasets.coco import segmentation_mask
    square = np.zeros((40, 60), np.uint8)
    square[10:20, 30:50] = 1
    rle = mask_utils.encode(np.asfortranarray(square))
    polygon = [5.0, 5.0, 25.0, 5.0, 15.0, 30.0]
    json_file = tiny_coco(tmp_path, [
        {"image_id": 1, "bbox": [5, 5, 20, 25], "area": 250, "segmentation": [polygon]},
        {"image_id": 1, "bbox": [30, 10, 20, 10], "area": 200,
         "segmentation": {"size": [40, 60], "counts": rle["counts"].decode()}},
        {"image_id": 2, "bbox": [5, 5, 20, 25], "area": 250, "segmentation": [polygon]}])
    as_polygons = CocoDetection(json_file, tmp_path, mask_format="polygon")
    as_bitmasks = CocoDetection(json_file, tmp_path, mask_format="bitmask")
    mixed, bitmasks = as_polygons.target(0), as_bitmasks.target(0)
    assert mixed["polygons"][1] is None and np.array_equal(mixed["polygons"][0][0], polygon)
    assert torch.equal(mixed["masks"][1], bitmasks["masks"][1]) and not mixed["masks"][0].any()
    only_polygons = as_polygons.target(1)
    assert "masks" not in only_polygons  # no full-resolution mask travels for it
    assert np.array_equal(segmentation_mask([only_polygons["polygons"][0][0].tolist()], 40, 60),
                          as_bitmasks.target(1)["masks"][0].numpy())


def test_the_library_s_mask_format_default_is_the_config_s():
    import inspect

    from resnet_det.config import get_cfg
    from resnet_det.data.datasets.catalog import load_detection_dataset, load_training_set
    defaults = {inspect.signature(f).parameters["mask_format"].default
                for f in (CocoDetection, load_detection_dataset, load_training_set)}
    assert defaults == {get_cfg().INPUT.MASK_FORMAT}
