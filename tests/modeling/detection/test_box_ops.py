"""Box encoding round trips, for any anchor and any box within the delta clamp."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision.ops import batched_nms

from resnet_det.modeling.detection.box_ops import SCALE_CLAMP, box_coder, class_wise_nms, scale_boxes

_centre = st.floats(-500, 1500, allow_subnormal=False)
_side = st.floats(1, 800, allow_subnormal=False)


def _box(cx: float, cy: float, w: float, h: float) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


@given(st.tuples(_centre, _centre, _side, _side), st.tuples(_centre, _centre, _side, _side),
       st.sampled_from([(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]))
def test_decode_inverts_encode(anchor, box, weights):
    scale = max(box[2] / anchor[2], box[3] / anchor[3], anchor[2] / box[2], anchor[3] / box[3])
    coder = box_coder(weights)
    anchors, boxes = torch.tensor([_box(*anchor)], dtype=torch.float64), torch.tensor([_box(*box)], dtype=torch.float64)
    decoded = coder.decode_single(coder.encode_single(boxes, anchors), anchors)
    if math.log(scale) < SCALE_CLAMP:
        assert torch.allclose(decoded, boxes, rtol=1e-6, atol=1e-6)
    else:  # beyond the clamp a box can only grow to exp(SCALE_CLAMP) times its anchor
        bound = (anchors[0, 2:] - anchors[0, :2]) * math.exp(SCALE_CLAMP) + 1e-6
        assert (decoded[0, 2:] - decoded[0, :2] <= bound).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
def test_scale_boxes_scales_x_and_y_and_leaves_the_input_alone(dtype):
    boxes = torch.tensor([[1, 2, 3, 4], [10, 20, 30, 40]], dtype=dtype)
    before = boxes.clone()
    out = scale_boxes(boxes, 0.5, 3.0)
    assert out.dtype == torch.float32
    assert torch.equal(out, before.float() * torch.tensor([0.5, 3.0, 0.5, 3.0]))
    assert torch.equal(boxes, before)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("count", [0, 1, 300])
def test_class_wise_nms_keeps_what_torchvision_batched_nms_keeps(seed, count):
    generator = torch.Generator().manual_seed(seed)
    height, width = 480, 640
    corners = torch.rand(count, 2, 2, generator=generator) * torch.tensor([width, height])
    boxes = torch.cat([corners.min(dim=1).values, corners.max(dim=1).values], dim=1)
    scores = torch.rand(count, generator=generator)
    labels = torch.randint(0, 5, (count,), generator=generator)
    expected = batched_nms(boxes, scores, labels, 0.5)
    assert torch.equal(class_wise_nms(boxes, scores, labels, 0.5, (height, width)), expected)
