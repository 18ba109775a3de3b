import numpy as np
import pytest
import torch

from resnet_det.data.datasets.coco import segmentation_mask
from resnet_det.modeling.detection.masks import (
    crop_and_resize_masks,
    mask_targets,
    paste_masks,
    rasterize_polygons_in_box,
)

# An L-shaped polygon in a 40 x 60 image, and RoIs around it: itself, larger, shifted, thin.
L_SHAPE = np.array([10.0, 5.0, 30.0, 5.0, 30.0, 15.0, 20.0, 15.0, 20.0, 35.0, 10.0, 35.0])
ROIS = torch.tensor([[10.0, 5.0, 30.0, 35.0], [0.0, 0.0, 40.0, 40.0], [15.0, 10.0, 35.0, 30.0],
                     [12.0, 5.0, 13.0, 35.0]])


def test_paste_full_mask_fills_exactly_the_box():
    boxes = torch.tensor([[2.0, 3.0, 10.0, 7.0], [0.0, 0.0, 4.0, 4.0]])
    pasted = paste_masks(torch.ones(2, 28, 28), boxes, 12, 16)
    assert pasted.shape == (2, 12, 16) and pasted.dtype == torch.bool
    expected = torch.zeros(12, 16, dtype=torch.bool)
    expected[3:7, 2:10] = True
    assert torch.equal(pasted[0], expected)
    assert pasted[1].sum() == 16


def test_paste_in_chunks_equals_one_pass():
    torch.manual_seed(0)
    masks, boxes = torch.rand(7, 28, 28), torch.tensor([[1.0, 2.0, 30.0, 20.0]]).repeat(7, 1)
    assert torch.equal(paste_masks(masks, boxes, 24, 32), paste_masks(masks, boxes, 24, 32, memory_budget=1))


def test_crop_and_resize_samples_inside_each_box():
    masks = torch.zeros(2, 20, 20, dtype=torch.uint8)
    masks[0, :, :10] = 1  # left half
    masks[1, 5:15, 5:15] = 1
    out = crop_and_resize_masks(masks, torch.tensor([[0.0, 0.0, 20.0, 20.0], [5.0, 5.0, 15.0, 15.0]]), 4)
    assert torch.equal(out[0], torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 4))
    assert torch.equal(out[1], torch.ones(4, 4))


def test_a_polygon_filling_its_box_is_all_ones_and_half_of_it_half():
    square = np.array([4.0, 4.0, 18.0, 4.0, 18.0, 18.0, 4.0, 18.0])
    assert rasterize_polygons_in_box([square], np.array([4.0, 4.0, 18.0, 18.0], np.float32), 28).all()
    left = rasterize_polygons_in_box([square], np.array([4.0, 4.0, 32.0, 18.0], np.float32), 28)
    assert left[:, :14].all() and not left[:, 14:].any()


def test_polygon_targets_agree_with_bitmask_targets():
    """The two paths rasterise the same shape: they differ only at its edges."""
    polygon_target = {"boxes": torch.zeros(1, 4), "polygons": [[L_SHAPE]]}
    mask = torch.from_numpy(segmentation_mask([L_SHAPE.tolist()], 40, 60))
    bitmask_target = {"boxes": torch.zeros(1, 4), "masks": mask[None]}
    index = torch.zeros(len(ROIS), dtype=torch.long)
    a, b = mask_targets(polygon_target, ROIS, index, 28).bool(), mask_targets(bitmask_target, ROIS, index, 28).bool()
    iou = (a & b).flatten(1).sum(1) / (a | b).flatten(1).sum(1)
    assert (iou > 0.9).all(), iou  # the thin RoI lies inside the shape: both targets are full


@pytest.mark.parametrize("scale", [(1.0, 1.0), (2.0, 0.5)])
def test_polygon_targets_follow_the_resize_of_the_input(scale):
    """Boxes in the resized input, polygons in the image's pixels: scaling the boxes and telling the
    target its ``mask_scale`` gives the targets of the unscaled boxes."""
    sx, sy = scale
    target = {"boxes": torch.zeros(1, 4), "polygons": [[L_SHAPE]], "mask_scale": scale}
    resized_rois = ROIS * torch.tensor([sx, sy, sx, sy])
    index = torch.zeros(len(ROIS), dtype=torch.long)
    got = mask_targets(target, resized_rois, index, 28)
    expected = torch.stack([torch.from_numpy(rasterize_polygons_in_box([L_SHAPE], r.numpy(), 28)).float()
                            for r in ROIS])
    assert torch.equal(got, expected)


def test_rle_instances_among_polygon_ones_take_the_bitmask_path():
    rle_mask = torch.zeros(40, 60, dtype=torch.uint8)
    rle_mask[20:30, 40:55] = 1
    target = {"boxes": torch.zeros(2, 4), "polygons": [[L_SHAPE], None],
              "masks": torch.stack([torch.zeros(40, 60, dtype=torch.uint8), rle_mask])}
    boxes = torch.tensor([[10.0, 5.0, 30.0, 35.0], [40.0, 20.0, 55.0, 30.0], [10.0, 5.0, 30.0, 35.0]])
    index = torch.tensor([0, 1, 0])
    got = mask_targets(target, boxes, index, 28)
    polygon = torch.from_numpy(rasterize_polygons_in_box([L_SHAPE], boxes[0].numpy(), 28)).float()
    assert torch.equal(got[0], polygon) and torch.equal(got[2], polygon)
    assert torch.equal(got[1], crop_and_resize_masks(target["masks"], boxes[1:2], 28, index[1:2])[0])
    assert got[1].all()
