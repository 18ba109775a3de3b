"""Evaluation of image-file datasets (ImageNet samples) through the trainer's --eval-only path."""
import pytest
import torch

from resnet_det.config import load_config
from resnet_det.data.datasets.imagenet import load_imagenet_split
from resnet_det.data.decode.files import read_rgb
from resnet_det.data.loaders.cls_transforms import eval_views
from resnet_det.engine.cls_trainer import ClassificationTrainer
from resnet_det.utils.geometry import hwc_to_chw


@pytest.fixture
def imagenet_root(shared_data, tmp_path):
    (tmp_path / "imagenet").symlink_to(shared_data / "imagenet_samples")
    return tmp_path


@pytest.mark.parametrize("mode", ["center", "10crop"])
def test_eval_matches_a_direct_loop(imagenet_root, mode):
    cfg = load_config("configs/imagenet_r18.yaml", [
        "DATASETS.ROOT", str(imagenet_root), "TEST.MODE", mode, "TEST.IMS_PER_BATCH", "16",
        "DATALOADER.NUM_WORKERS", "2", "TEST.RESIZE", "128", "TEST.CROP_SIZE", "112",
        "OUTPUT_DIR", str(imagenet_root / "out"), "MODEL.DEVICE", "cpu",
        "SOLVER.AMP.ENABLED", "False"])
    trainer = ClassificationTrainer(cfg)
    # Make the random classifier confident about something, so errors are not all ties.
    torch.nn.init.normal_(trainer.model.linear.weight, std=0.5)
    result = trainer.test()["imagenet_val"]["classification"]
    assert result["num_images"] == 100

    paths, labels, _ = load_imagenet_split(imagenet_root / "imagenet", "val")
    trainer.model.eval()
    correct1 = correct5 = 0
    with torch.no_grad():
        for path, label in zip(paths[:100], labels):
            views = [hwc_to_chw(v)[None] for v in eval_views(read_rgb(path), mode, resize=128, crop=112)]
            probs = sum(trainer.predict(trainer.model, v).softmax(1) for v in views)[0]
            top5 = probs.topk(5).indices.tolist()
            correct1 += top5[0] == label
            correct5 += label in top5
    assert result["top1_error"] == pytest.approx(100 * (1 - correct1 / 100))
    assert result["top5_error"] == pytest.approx(100 * (1 - correct5 / 100))
