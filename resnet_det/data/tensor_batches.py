"""Training batches drawn from images held in one tensor on the device, augmented there.

Small datasets (CIFAR-10 is 150 MB as uint8) fit on any GPU; decoding them once and cropping and
flipping whole batches on the device keeps a GPU busy where a per-sample loader cannot.
Which images and which crops a step gets depends only on ``(seed, iteration, rank)``, so a
resumed run sees exactly the batches the uninterrupted run would have seen.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class TensorBatches:
    """Shuffled epochs of ``images`` (N x C x H x W uint8) split evenly across ``world_size`` ranks.

    Args:
        batch_size: the global batch; each rank gets ``batch_size // world_size`` samples.
        pad, crop: zero-pad by ``pad`` then take a random ``crop x crop`` window (0: no crop).
        flip: mirror each sample horizontally with probability 1/2.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, seed: int,
                 pad: int = 0, crop: int = 0, flip: bool = False, rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise ValueError(f"batch size {batch_size} is not divisible by {world_size} processes")
        if batch_size > len(images):
            raise ValueError(f"batch size {batch_size} exceeds the dataset size {len(images)}")
        self.images, self.labels = images, labels
        self.batch_size, self.local = batch_size, batch_size // world_size
        self.seed, self.rank = seed, rank
        self.pad, self.crop, self.flip = pad, crop, flip

    def _epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.images))

    def indices(self, iteration: int) -> np.ndarray:
        """Dataset indices of this rank's samples at ``iteration`` (epochs drop the last partial batch)."""
        per_epoch = len(self.images) // self.batch_size
        epoch, step = divmod(iteration, per_epoch)
        start = step * self.batch_size + self.rank * self.local
        return self._epoch_order(epoch)[start:start + self.local]

    def get(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(uint8 images, labels)`` for ``iteration``, augmented."""
        idx = torch.from_numpy(self.indices(iteration)).to(self.images.device)
        x, y = self.images[idx], self.labels[idx]
        seed = int(np.random.SeedSequence([self.seed, iteration, self.rank]).generate_state(1)[0])
        gen = torch.Generator().manual_seed(seed)
        if self.crop:
            x = random_crop(x, self.pad, self.crop, gen)
        if self.flip:
            mirror = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
            x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
        return x, y


def random_crop(x: torch.Tensor, pad: int, crop: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad a batch by ``pad`` and take an independent random ``crop`` window from each sample."""
    n, c, h, w = x.shape
    x = F.pad(x, (pad, pad, pad, pad))
    top = torch.randint(0, h + 2 * pad - crop + 1, (n,), generator=generator).to(x.device)
    left = torch.randint(0, w + 2 * pad - crop + 1, (n,), generator=generator).to(x.device)
    offsets = torch.arange(crop, device=x.device)
    rows = (top[:, None] + offsets)[:, None, :, None]
    cols = (left[:, None] + offsets)[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return x[batch, channel, rows, cols]
