import cv2
import numpy as np
import pytest
import torch

from resnet_det.data.decode.files import ImageDecodeError
from resnet_det.inference.inputs import as_rgb_tensor


@pytest.fixture
def picture(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    return path, rgb


def test_a_file_an_opencv_array_an_rgb_array_and_a_tensor_give_the_same_pixels(picture):
    path, rgb = picture
    expected = torch.from_numpy(rgb).permute(2, 0, 1)
    for image, order in ((path, "RGB"), (str(path), "RGB"), (cv2.imread(str(path)), "BGR"), (rgb, "RGB"),
                         (expected.clone(), "RGB"), (expected.flip(0), "BGR")):
        out = as_rgb_tensor(image, order)
        assert out.dtype == torch.uint8 and out.is_contiguous()
        assert torch.equal(out, expected), (type(image), order)


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 1), (20, 30, 4)])
def test_grey_is_repeated_and_alpha_dropped(shape):
    image = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint8)
    out = as_rgb_tensor(image)
    first = image if image.ndim == 2 else image[:, :, 0]
    assert out.shape == (3, 20, 30) and torch.equal(out[0], torch.from_numpy(np.ascontiguousarray(first)))
    if len(shape) == 2 or shape[2] == 1:
        assert torch.equal(out[0], out[2])


@pytest.mark.parametrize("image, message", [
    (np.zeros((4, 4, 3), np.float32), "uint8"), (torch.zeros(3, 4, 4), "uint8"),
    (np.zeros((4, 4, 2), np.uint8), "channels"), (torch.zeros(5, 4, 4, dtype=torch.uint8), "channels"),
    ([1, 2], "path, a numpy array or a tensor")])
def test_refuses_what_is_not_an_image(image, message):
    with pytest.raises((ValueError, TypeError), match=message):
        as_rgb_tensor(image)


def test_a_broken_file_is_named(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(ImageDecodeError, match="broken.jpg"):
        as_rgb_tensor(bad)
    with pytest.raises(ValueError, match="channel_order"):
        as_rgb_tensor(np.zeros((4, 4, 3), np.uint8), "rgb")
