import pytest

from resnet_det.data.datasets.imagenet import imagenet_classes, load_imagenet_split
from resnet_det.data.datasets.paths import DatasetNotFoundError


def test_class_ids_follow_synsets_txt(shared_data):
    root = shared_data / "imagenet_samples"
    paths, labels, wnids = load_imagenet_split(root, "val")
    synsets = [line.split()[0] for line in (root / "synsets.txt").read_text().splitlines()]
    assert len(paths) == 100 and wnids == synsets == sorted(synsets)
    for path, label in zip(paths, labels):
        assert synsets[label] == path.parent.name
    # The samples are one image for every tenth class.
    assert labels == list(range(0, 1000, 10))


def test_class_order_from_train_folders(tmp_path):
    for wnid in ("n02", "n01", "n03"):
        (tmp_path / "train" / wnid).mkdir(parents=True)
    (tmp_path / "val" / "n03").mkdir(parents=True)
    (tmp_path / "val" / "n03" / "x.JPEG").write_bytes(b"")
    assert imagenet_classes(tmp_path) == ["n01", "n02", "n03"]
    assert load_imagenet_split(tmp_path, "val")[1] == [2]


def test_missing_split_and_unknown_class_are_clear(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "val")):
        load_imagenet_split(tmp_path, "val")
    (tmp_path / "synsets.txt").write_text("n01 a\n")
    (tmp_path / "val" / "n99").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="n99 is not an ImageNet class"):
        load_imagenet_split(tmp_path, "val")
