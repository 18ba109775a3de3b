"""Image-file classification batches with an unreadable file: skipped in training, counted as an
error in evaluation, or a named error."""
import cv2
import numpy as np
import pytest
import torch

from resnet_det.data.decode.files import ImageDecodeError
from resnet_det.data.loaders.batches import UNREADABLE
from resnet_det.data.loaders.crop_schedule import CropSchedule
from resnet_det.data.loaders.image_files import FileBatches, file_eval_batches
from resnet_det.evaluation.classification import ClassificationEvaluator
from resnet_det.evaluation.evaluator import inference_on_dataset


@pytest.fixture
def three_files(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((40, 50, 3), 60 * i, np.uint8))
    paths[1].write_bytes(b"not a png")
    return paths


def test_training_trains_past_it(three_files):
    batches = FileBatches(three_files, [0, 1, 2], 3, seed=0, shorter_side=(32,), sampling="choice", crop=32,
                          flip=False, device=torch.device("cpu"), num_workers=0)
    for _, batch in zip(range(3), batches.iterate(0)):
        assert batch.images.shape == (3, 3, 32, 32) and 1 not in batch.labels.tolist()


@pytest.mark.parametrize("crop_mode", ["scale", "random_resized"])
def test_training_crops_grow_by_epoch_keeping_their_share_of_the_image(tmp_path, crop_mode):
    rows = np.linspace(0, 255, 32)[:, None, None] * np.ones((1, 32, 3))  # dark at the top, bright at the bottom
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for path in paths:
        cv2.imwrite(str(path), rows.astype(np.uint8))
    # One iteration an epoch: the crop is 16 at iteration 0, 24 at 1, 32 from 2 on.
    batches = FileBatches(paths, [0, 1, 2], 3, seed=0, shorter_side=(32,), sampling="choice", crop_mode=crop_mode,
                          crop=CropSchedule(32, 16, 0, 2, multiple=8), flip=False, device=torch.device("cpu"),
                          num_workers=0)
    views = [b.images for _, b in zip(range(4), batches.iterate(0))]
    assert [v.shape[-1] for v in views] == [16, 24, 32, 32]
    assert torch.equal(next(batches.iterate(1)).images, views[1])  # a function of the iteration: resumes the same
    if crop_mode == "scale":  # the 32-pixel side is the whole image: so is every smaller crop, shrunk
        assert views[0][:, :, 0].float().mean() < 20 and views[0][:, :, -1].float().mean() > 235


def test_a_test_flip_adds_the_mirror_image(three_files):
    (batch,) = file_eval_batches(three_files[::2], [0, 2], batch_size=2, num_workers=0, mode="center", resize=32,
                                 crop=28, flip=True)
    assert len(batch.views) == 2 and torch.equal(batch.views[1], batch.views[0].flip(-1))


@pytest.mark.parametrize("mode", ["center", "10crop", "multiscale"])
def test_evaluation_counts_it_as_misclassified(three_files, mode):
    batches = list(file_eval_batches(three_files, [0, 1, 2], batch_size=3, num_workers=0, mode=mode, resize=32,
                                     crop=28, scales=(32, 40)))
    assert [y for b in batches for y in b.labels.tolist()] == [0, UNREADABLE, 2]

    def perfect(images):  # scores the true class of every readable image highest (by brightness)
        return torch.nn.functional.one_hot((images.float().mean((1, 2, 3)) / 60).round().long(), 10).float()

    result = inference_on_dataset(lambda b: sum(perfect(v).softmax(1) for v in b.views), batches,
                                  ClassificationEvaluator(torch.device("cpu")))["classification"]
    assert result["num_images"] == 3 and result["top1_error"] == pytest.approx(100 / 3)
    with pytest.raises(ImageDecodeError, match="1.png"):
        list(file_eval_batches(three_files, [0, 1, 2], batch_size=3, num_workers=0, mode=mode, resize=32, crop=28,
                               scales=(32, 40), on_bad_image="fail"))
