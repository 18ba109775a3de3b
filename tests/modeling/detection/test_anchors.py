import math

import torch

from resnet_det.modeling.detection.anchors import AnchorGenerator


def test_cell_anchors_keep_area_and_ratio_unrounded():
    gen = AnchorGenerator(sizes=(32, 64), aspect_ratios=(0.5, 1.0, 2.0), stride=16)
    cells = gen.cell_anchors
    assert gen.num_anchors == 6
    w, h = cells[:, 2] - cells[:, 0], cells[:, 3] - cells[:, 1]
    assert torch.allclose(w * h, torch.tensor([32.0**2] * 3 + [64.0**2] * 3))
    assert torch.allclose(h / w, torch.tensor([0.5, 1.0, 2.0] * 2))
    assert math.isclose(cells[0, 2].item(), math.sqrt(2048) / 2, rel_tol=1e-6)  # 22.627, not rounded
    assert torch.allclose(cells.sum(dim=1), torch.zeros(6), atol=1e-5)  # centred on the cell


def test_grid_is_location_major_then_anchor():
    gen = AnchorGenerator(sizes=(32,), aspect_ratios=(0.5, 1.0), stride=16)
    anchors = gen(2, 3)
    assert anchors.shape == (2 * 3 * 2, 4)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    expected = torch.tensor([[x * 16.0, y * 16.0] for y in range(2) for x in range(3) for _ in range(2)])
    assert torch.allclose(centres, expected)
