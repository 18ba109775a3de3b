import numpy as np
import pytest
import torch

from resnet_det.config import ConfigValueError, get_cfg
from resnet_det.data.loaders.sample_augment import SampleAugment
from resnet_det.data.loaders.tensors import TensorBatches


def _images(n: int = 8) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, 3, 16, 16), dtype=np.uint8))


def test_a_seed_gives_one_draw_and_leaves_the_global_generator_alone():
    augment = SampleAugment("trivial_wide", 0.5, (124, 116, 104))
    image = _images(1)[0]
    torch.manual_seed(5)
    before = torch.rand(2)
    torch.manual_seed(5)
    assert torch.equal(augment(image, 3), augment(image, 3))
    assert torch.rand(2).equal(before)
    outputs = {augment(image, seed).numpy().tobytes() for seed in range(20)}
    assert len(outputs) > 10  # the seed picks among the policy's operations and strengths


def test_erasing_fills_a_rectangle_with_the_mean_colour():
    augment = SampleAugment("", 1.0, (124, 116, 104))
    image = torch.zeros(3, 32, 32, dtype=torch.uint8)
    out = augment(image, 0)
    erased = (out != 0).any(0)
    ys, xs = erased.nonzero(as_tuple=True)
    assert erased.sum() == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)  # one rectangle
    assert out[:, ys[0], xs[0]].tolist() == [124, 116, 104]


def test_in_memory_batches_augment_each_sample_from_its_slot():
    augment = SampleAugment("trivial_wide", 0.0, (0, 0, 0))
    plain = TensorBatches(_images(), torch.arange(8), 4, seed=1)
    augmented = TensorBatches(_images(), torch.arange(8), 4, seed=1, augment=augment)
    a, b = plain.get(3), augmented.get(3)
    assert torch.equal(a.labels, b.labels) and not torch.equal(a.images, b.images)
    assert torch.equal(b.images, TensorBatches(_images(), torch.arange(8), 4, seed=1, augment=augment).get(3).images)
    # Two ranks' shares are the single process's batch.
    ranks = [TensorBatches(_images(), torch.arange(8), 4, seed=1, augment=augment, rank=r, world_size=2).get(3)
             for r in (0, 1)]
    assert torch.equal(torch.cat([r.images for r in ranks]), b.images)


def test_the_config_turns_it_on_and_refuses_decoding_on_the_device(tmp_path):
    cfg = get_cfg()
    assert SampleAugment.from_config(cfg, (1, 2, 3)) is None
    cfg.INPUT.RANDOM_ERASING = 0.25
    assert SampleAugment.from_config(cfg, (1, 2, 3)) is not None
    from resnet_det.data.loaders.image_files import FileBatches
    with pytest.raises(ConfigValueError, match="run in the loader workers; they cannot be combined with "
                                               "DATALOADER.DECODE_ON_DEVICE"):
        FileBatches([tmp_path / "a.jpg"] * 4, [0] * 4, 2, seed=0, shorter_side=(32,), sampling="choice", crop=16,
                    flip=False, device=torch.device("cpu"), num_workers=0, decode_on_device=True,
                    augment=SampleAugment.from_config(cfg, (1, 2, 3)))


def test_loader_workers_augment_each_sample_after_its_view(tmp_path):
    import cv2

    from resnet_det.data.loaders.image_files import FileBatches
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), np.random.default_rng(i).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    kwargs = dict(seed=0, shorter_side=(32,), sampling="choice", crop=24, flip=True, device=torch.device("cpu"),
                  num_workers=0, crop_mode="random_resized")
    plain = next(FileBatches(paths, [0, 1, 2, 3], 4, **kwargs).iterate(2))
    augment = SampleAugment("trivial_wide", 0.5, (124, 116, 104))
    first, again = (next(FileBatches(paths, [0, 1, 2, 3], 4, augment=augment, **kwargs).iterate(2)) for _ in range(2))
    assert torch.equal(first.labels, plain.labels) and first.images.shape == plain.images.shape == (4, 3, 24, 24)
    assert not torch.equal(first.images, plain.images) and torch.equal(first.images, again.images)
