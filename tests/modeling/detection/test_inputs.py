"""Detector input resizing keeps boxes on the same pixels, for any image size and target size."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from resnet_det.modeling.detection.inputs import DetectionInputs
from resnet_det.utils.geometry import shorter_side_shape


@given(st.integers(1, 4000), st.integers(1, 4000), st.integers(1, 1000), st.integers(1, 2000))
def test_resized_shape_hits_the_short_side_unless_the_long_one_caps_it(height, width, short, max_size):
    new_h, new_w = shorter_side_shape(height, width, short, max_size)
    if max(height, width) * short / min(height, width) <= max_size:
        assert min(new_h, new_w) == short
    assert max(new_h, new_w) <= max_size + 1  # the cap holds up to rounding
    assert abs(new_w / max(new_h, 1) - width / height) <= 2 * (width / height) / max(min(new_h, new_w), 1) + 1e-9


@settings(max_examples=30, deadline=None)
@given(st.integers(8, 64), st.integers(8, 64), st.integers(8, 96), st.data())
def test_boxes_scale_with_their_image(height, width, short, data):
    x1 = data.draw(st.integers(0, width - 1))
    y1 = data.draw(st.integers(0, height - 1))
    x2, y2 = data.draw(st.integers(x1 + 1, width)), data.draw(st.integers(y1 + 1, height))
    image = torch.zeros(3, height, width, dtype=torch.uint8)
    image[:, y1:y2, x1:x2] = 255
    inputs = DetectionInputs("torchvision", max_size_train=1000).train()
    target = {"boxes": torch.tensor([[x1, y1, x2, y2]], dtype=torch.float32), "short_side": short}
    prepared = inputs([image], [target])
    batch, targets = prepared.tensor, prepared.targets
    (new_h, new_w), (sx, sy) = prepared.image_sizes[0], prepared.scales[0]
    assert (sx, sy) == (new_w / width, new_h / height)
    box = targets[0]["boxes"][0]
    assert torch.allclose(box, torch.tensor([x1 * sx, y1 * sy, x2 * sx, y2 * sy]))
    assert 0 <= box[0] < box[2] <= new_w + 1e-4 and 0 <= box[1] < box[3] <= new_h + 1e-4
    # The bright square lands on its scaled box: interpolation blurs its edges by at most half a
    # source pixel (upscaling) or one output pixel (antialiased downscaling).
    black = inputs.normalize(torch.zeros(1, 3, 1, 1)).mean()
    lit = batch[0].mean(0) > black + 1e-3
    ys, xs = lit.nonzero(as_tuple=True)
    tx, ty = max(0.5 * sx, 1) + 0.5, max(0.5 * sy, 1) + 0.5
    assert box[0] - tx <= xs.min() <= box[0] + tx and box[2] - tx <= xs.max() + 1 <= box[2] + tx
    assert box[1] - ty <= ys.min() <= box[1] + ty and box[3] - ty <= ys.max() + 1 <= box[3] + ty


@pytest.mark.parametrize("size", [(120, 90), (61, 47)], ids=["shrink", "enlarge"])
def test_pil_resize_is_detectron2s(size):
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 83, 101), dtype=torch.uint8, generator=g)
    short = min(size)
    new_h, new_w = shorter_side_shape(83, 101, short, 1333)
    # detectron2's ResizeTransform.apply_image on a uint8 image: PIL bilinear, kept uint8.
    expected = np.array(Image.fromarray(image.permute(1, 2, 0).numpy()).resize((new_w, new_h), Image.BILINEAR))
    pil = DetectionInputs("torchvision", min_size_test=short, resize="pil").eval()
    unnormalised = pil([image]).tensor * pil.normalize.std + pil.normalize.mean
    torch.testing.assert_close(unnormalised[0], torch.from_numpy(expected).permute(2, 0, 1).float(), atol=1e-3, rtol=0)
    ours = DetectionInputs("torchvision", min_size_test=short).eval()
    differ = (ours([image]).tensor * ours.normalize.std + ours.normalize.mean - unnormalised).abs()
    assert 0 < differ.max() <= 1.0  # the float resize: within a grey level of PIL's rounded one


def test_pil_resize_refuses_float_images():
    with pytest.raises(ValueError, match="uint8"):
        DetectionInputs("torchvision", min_size_test=40, resize="pil").eval()([torch.rand(3, 30, 30)])
