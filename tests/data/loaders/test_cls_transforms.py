import numpy as np
import pytest
import torch

from resnet_det.data.loaders.cls_transforms import eval_views, pca_lighting, resize_shorter, resized_crop, train_view


def _image(h=300, w=400):
    return np.random.default_rng(0).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_ten_crop_is_corners_centre_and_mirrors():
    image = _image()
    views = eval_views(image, "10crop", resize=256, crop=224)
    resized = resize_shorter(image, 256)
    assert resized.shape[:2] == (256, 341)
    assert len(views) == 10 and all(v.shape == (224, 224, 3) for v in views)
    assert np.array_equal(views[0], resized[:224, :224])
    assert np.array_equal(views[3], resized[-224:, -224:])
    assert np.array_equal(views[4], resized[16:240, 58:282])
    for i in range(5):
        assert np.array_equal(views[i + 5], views[i][:, ::-1])


def test_center_and_multiscale_views():
    image = _image()
    (center,) = eval_views(image, "center", resize=256, crop=224)
    assert np.array_equal(center, eval_views(image, "10crop")[4])
    views = eval_views(image, "multiscale", scales=(224, 480))
    assert [min(v.shape[:2]) for v in views] == [224, 480, 224, 480]
    assert views[1].shape[:2] == (480, 640) and np.array_equal(views[3], views[1][:, ::-1])
    with pytest.raises(ValueError, match="unknown test mode"):
        eval_views(image, "5crop")


def test_train_view_scale_and_crop():
    rng = np.random.default_rng(0)
    for _ in range(5):
        view = train_view(_image(), rng, shorter_side=(256, 480), sampling="range", crop=224, flip=True)
        assert view.shape == (224, 224, 3) and view.flags.c_contiguous


@pytest.mark.parametrize("top, left", [(0, 0), (76, 176), (13, 57)])
def test_resized_crop_equals_whole_resize_then_crop_at_integer_scale(top, left):
    image = _image(150, 200)  # to a shorter side of 300: every part starts on an output pixel
    assert np.array_equal(resized_crop(image, (300, 400), top, left, 224),
                          resize_shorter(image, 300)[top:top + 224, left:left + 224])


def _smooth_image(h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    channels = [np.sin(xx / 15) * np.cos(yy / 20), np.cos(xx / 23 + yy / 17), np.sin(yy / 11)]
    return (128 + 100 * np.stack(channels, -1)).astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_resized_crop_is_within_half_a_pixel_of_whole_resize_then_crop(seed):
    """Up- and downscaling (factors 0.37 to 4.8): on a smooth image a half-pixel shift moves a
    value by under 10 levels, and the window keeps its size at every edge of the image."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        image = _smooth_image(int(rng.integers(100, 600)), int(rng.integers(100, 700)))
        side = int(rng.integers(224, 481))
        whole = resize_shorter(image, side)
        top = int(rng.choice([0, whole.shape[0] - 224, rng.integers(0, whole.shape[0] - 223)]))
        left = int(rng.choice([0, whole.shape[1] - 224, rng.integers(0, whole.shape[1] - 223)]))
        view = resized_crop(image, whole.shape[:2], top, left, 224).astype(int)
        diff = np.abs(view - whole[top:top + 224, left:left + 224])
        assert view.shape == (224, 224, 3) and diff.max() < 10 and diff.mean() < 4


def test_pca_lighting_shifts_each_image_by_one_colour_and_splits_by_slot():
    images = torch.zeros(4, 3, 2, 2)
    full = pca_lighting(images, 0.1, torch.Generator().manual_seed(0), range(0, 4))
    half = pca_lighting(images[2:], 0.1, torch.Generator().manual_seed(0), range(2, 4))
    assert torch.equal(full[2:], half)
    assert torch.all(full == full[:, :, :1, :1]) and full.abs().max() > 0
