import pickle

import numpy as np
import pytest

from resnet_det.data.datasets.cifar import CIFAR10_CLASSES, load_cifar10
from resnet_det.data.datasets.paths import DatasetNotFoundError


def test_jpeg_archive_from_shared_data(shared_data):
    images, labels = load_cifar10(shared_data, "test")
    assert images.shape == (10000, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10


def test_official_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    expected = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=4).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
        expected.append((data, labels))
    images, labels = load_cifar10(tmp_path, "test")
    data, want = expected[-1]
    assert labels.tolist() == want
    # CHW-planar rows become HWC images: the red plane is the first 1024 bytes.
    assert np.array_equal(images[0, :, :, 0].ravel(), data[0, :1024])
    assert load_cifar10(tmp_path, "train")[0].shape == (20, 32, 32, 3)


def test_class_folders_get_sorted_ids_and_skip_bad_files(tmp_path, caplog):
    import cv2
    for cls in ("cat", "airplane"):
        (tmp_path / "cifar10" / "train" / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "cifar10" / "train" / cls / "0.png"), np.full((32, 32, 3), 7, np.uint8))
    (tmp_path / "cifar10" / "train" / "cat" / "broken.png").write_bytes(b"not an image")
    images, labels = load_cifar10(tmp_path, "train")
    assert labels.tolist() == [0, 1] and images.shape == (2, 32, 32, 3)
    assert "broken.png" in caplog.text
    assert CIFAR10_CLASSES == tuple(sorted(CIFAR10_CLASSES))


def test_missing_dataset_names_where_it_looked(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py") as err:
        load_cifar10(tmp_path, "train")
    assert str(tmp_path) in str(err.value)
