import torch

from resnet_det.data.coco import CocoDetection


def test_coco128_targets(shared_data):
    coco = CocoDetection(shared_data / "coco128/annotations/instances_train2017.json",
                         shared_data / "coco128/train2017")
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
            ys, xs = mask.nonzero(as_tuple=True)
            assert xs.min() >= box[0] - 1 and xs.max() <= box[2] + 1
    assert total_crowd == 10 and objects > 0


def test_orientation_comes_from_the_json_and_matches_the_pixels(shared_data):
    coco = CocoDetection(shared_data / "coco128/annotations/instances_train2017.json",
                         shared_data / "coco128/train2017", with_masks=False)
    flags = [coco.is_landscape(i) for i in range(len(coco))]
    assert 0 < sum(flags) < len(flags)  # coco128 has both orientations
    portrait = flags.index(False)
    for i in (0, portrait):
        height, width = coco[i][0].shape[-2:]
        assert coco.is_landscape(i) == (width > height)
