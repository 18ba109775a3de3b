import numpy as np
import torch

from resnet_det.data.tensor_batches import TensorBatches, random_crop


def _data(n=50):
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 8, 8).contiguous()
    return images, torch.arange(n)


def test_batches_are_a_pure_function_of_iteration():
    images, labels = _data()
    a = TensorBatches(images, labels, 10, seed=3, pad=2, crop=8, flip=True)
    b = TensorBatches(images, labels, 10, seed=3, pad=2, crop=8, flip=True)
    for it in (7, 0, 7, 12):
        assert all(torch.equal(x, y) for x, y in zip(a.get(it), b.get(it)))
    assert not torch.equal(a.get(0)[1], a.get(1)[1])


def test_each_epoch_visits_every_sample_once_across_ranks():
    images, labels = _data(40)
    ranks = [TensorBatches(images, labels, 8, seed=0, rank=r, world_size=2) for r in range(2)]
    epoch = np.concatenate([r.indices(it) for it in range(5) for r in ranks])
    assert sorted(epoch.tolist()) == list(range(40))
    assert not np.array_equal(ranks[0].indices(5), ranks[0].indices(0))  # next epoch reshuffles


def test_random_crop_takes_windows_of_the_padded_image():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4) + 1
    out = random_crop(x, 1, 4, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        windows = [padded[i, :, r:r + 4, c:c + 4] for r in range(3) for c in range(3)]
        assert any(torch.equal(out[i], w) for w in windows)
