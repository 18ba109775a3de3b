import numpy as np
import pytest
import torch

from resnet_det.config import ConfigValueError
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


def test_a_test_flip_mirrors_the_center_view_and_is_refused_where_mirrors_are_already():
    image = _image()
    center, mirror = eval_views(image, "center", flip=True)
    assert np.array_equal(center, eval_views(image, "center")[0]) and np.array_equal(mirror, center[:, ::-1])
    for mode in ("10crop", "multiscale"):
        with pytest.raises(ConfigValueError, match=f"TEST.FLIP .* {mode} holds them already"):
            eval_views(image, mode, flip=True)


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


@pytest.mark.parametrize("height,width", [(300, 400), (480, 200), (100, 900)])
def test_random_resized_windows_follow_torchvision_s_ranges(height, width):
    from resnet_det.data.loaders.cls_transforms import random_resized_window
    rng = np.random.default_rng(0)
    for _ in range(300):
        top, left, h, w = random_resized_window(height, width, rng)
        assert 0 <= top <= height - h and 0 <= left <= width - w and h > 0 and w > 0
        # Drawn windows (not the fallback) hold 8-100% of the area at an aspect of 3/4-4/3, up to rounding.
        if (h, w) != (height, width) and (h * w) / (height * width) < 0.999:
            assert 0.08 * 0.95 <= h * w / (height * width) and 3 / 4 * 0.95 <= w / h <= 4 / 3 * 1.05


def test_a_random_resized_view_is_its_window_resized():
    import cv2

    from resnet_det.data.loaders.cls_transforms import apply_view, random_resized_window, sample_view
    ys, xs = np.mgrid[0:300, 0:400]
    image = np.stack([ys * 255 // 299, xs * 255 // 399, (ys + xs) * 255 // 698], -1).astype(np.uint8)
    for seed in range(20):
        view = sample_view(300, 400, np.random.default_rng(seed), shorter_side=(256,), sampling="choice", crop=64,
                           flip=False, crop_mode="random_resized")
        top, left, h, w = random_resized_window(300, 400, np.random.default_rng(seed))
        expected = cv2.resize(image[top:top + h, left:left + w], (64, 64), interpolation=cv2.INTER_AREA)
        got = apply_view(image, view)
        assert got.shape == (64, 64, 3)
        # One output pixel spans up to 400 / 64 source pixels: within one of them, of a smooth ramp.
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 8, seed
