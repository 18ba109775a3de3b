import numpy as np
import torch

from resnet_det.data.loaders.crop_schedule import CropSchedule
from resnet_det.data.loaders.tensors import TensorBatches, crop_windows


def _data(n=50):
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8)
    return images, torch.arange(n)


def test_batches_are_a_pure_function_of_iteration():
    images, labels = _data()
    a = TensorBatches(images, labels, 10, seed=3, pad=2, crop=8, flip=True)
    b = TensorBatches(images, labels, 10, seed=3, pad=2, crop=8, flip=True)
    for it in (7, 0, 7, 12):
        x, y = a.get(it), b.get(it)
        assert torch.equal(x.images, y.images) and torch.equal(x.labels, y.labels)
    assert not torch.equal(a.get(0).labels, a.get(1).labels)


def test_ranks_split_exactly_the_single_process_batch():
    images, labels = _data()
    kw = dict(seed=1, pad=2, crop=8, flip=True)
    single = TensorBatches(images, labels, 10, **kw)
    ranks = [TensorBatches(images, labels, 10, rank=r, world_size=2, **kw) for r in range(2)]
    for it in (0, 3, 9):
        whole = single.get(it)
        parts = [r.get(it) for r in ranks]
        assert torch.equal(torch.cat([p.images for p in parts]), whole.images)
        assert torch.equal(torch.cat([p.labels for p in parts]), whole.labels)


def test_each_epoch_visits_every_sample_once_across_ranks():
    images, labels = _data(40)
    ranks = [TensorBatches(images, labels, 8, seed=0, rank=r, world_size=2) for r in range(2)]
    epoch = np.concatenate([r.stream.indices(it) for it in range(5) for r in ranks])
    assert sorted(epoch.tolist()) == list(range(40))
    assert not np.array_equal(ranks[0].stream.indices(5), ranks[0].stream.indices(0))  # reshuffled


def test_crop_windows_gathers_each_samples_own_window():
    x = torch.arange(2 * 3 * 6 * 6).view(2, 3, 6, 6)
    out = crop_windows(x, torch.tensor([0, 2]), torch.tensor([1, 0]), 4)
    assert torch.equal(out[0], x[0, :, 0:4, 1:5]) and torch.equal(out[1], x[1, :, 2:6, 0:4])



def test_repeated_samples_are_augmented_apart():
    images = torch.arange(16 * 3 * 8 * 8, dtype=torch.float32).reshape(16, 3, 8, 8).remainder(251).to(torch.uint8)
    batches = TensorBatches(images, torch.arange(16), 8, seed=0, pad=2, crop=8, flip=True, repeats=2)
    batch = batches.get(0)
    assert torch.equal(batch.labels[:4], batch.labels[4:]) and len(set(batch.labels.tolist())) == 4
    assert any(not torch.equal(a, b) for a, b in zip(batch.images[:4], batch.images[4:]))


def test_progressive_crops_are_the_full_window_at_the_epoch_s_resolution():
    images, labels = _data(40)  # 5 iterations of 8 an epoch
    fixed = TensorBatches(images, labels, 8, seed=0, pad=2, crop=8)
    growing = TensorBatches(images, labels, 8, seed=0, pad=2, crop=CropSchedule(8, 4, 0, 2, multiple=2))
    assert [growing.get(it).images.shape[-1] for it in (0, 4, 5, 9, 10, 20)] == [4, 4, 6, 6, 8, 8]
    assert all(torch.equal(growing.get(it).labels, fixed.get(it).labels) for it in (0, 5, 10))
    assert torch.equal(growing.get(12).images, fixed.get(12).images)  # at full size, the same draws
    # Earlier, the same windows, shrunk (not smaller windows: the share of the image stays).
    shrunk = torch.nn.functional.interpolate(fixed.get(3).images.float(), size=(4, 4), mode="bilinear",
                                             antialias=True)
    assert (growing.get(3).images.float() - shrunk).abs().max() <= 0.5
