import torch

from resnet_det.modeling.detection.masks import crop_and_resize_masks, paste_masks


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
