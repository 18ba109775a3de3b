"""Training batches drawn from images held in one tensor on the device, augmented there.

Small datasets (CIFAR-10 is 150 MB as uint8) fit on any GPU; decoding them once and cropping and
flipping whole batches on the device keeps a GPU busy where a per-sample loader cannot.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import torch
import torch.nn.functional as F

from resnet_det.data.loaders.batches import ImageBatch
from resnet_det.data.loaders.crop_schedule import CropSchedule
from resnet_det.data.loaders.sample_augment import SampleAugment
from resnet_det.data.loaders.sampling import EpochStream
from resnet_det.utils.transfer import to_device


class TensorBatches:
    """Shuffled epochs of ``images`` (N x C x H x W uint8), split evenly across ``world_size`` ranks.

    Args:
        batch_size: the global batch; each rank gets ``batch_size // world_size`` samples.
        pad, crop: zero-pad by ``pad`` then take a random ``crop x crop`` window (0: no crop); with a
            progressive :class:`CropSchedule`, the window of its full size resized to the epoch's side.
        flip: mirror each sample horizontally with probability 1/2.
        repeats: repeated augmentation (see :class:`EpochStream`).
        augment: per-sample augmentation after crop and flip.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, seed: int,
                 pad: int = 0, crop: int | CropSchedule = 0, flip: bool = False, rank: int = 0, world_size: int = 1,
                 repeats: int = 1, augment: SampleAugment | None = None) -> None:
        self.images, self.labels = images, labels
        self.stream = EpochStream(len(images), batch_size, seed=seed, rank=rank, world_size=world_size, repeats=repeats)
        self.crops = CropSchedule.of(crop)
        self.pad, self.flip, self.augment = pad, flip, augment

    def get(self, iteration: int) -> ImageBatch:
        """The uint8 images and labels of ``iteration``, augmented."""
        idx = to_device(torch.from_numpy(self.stream.indices(iteration)), self.images.device)
        x, y = self.images[idx], self.labels[idx]
        gen, mine = self.stream.torch_generator(iteration), self.stream.local_slots
        n, crop = self.stream.batch_size, self.crops.size
        if crop:
            _, _, h, w = x.shape
            top = torch.randint(0, h + 2 * self.pad - crop + 1, (n,), generator=gen)[mine.start:mine.stop]
            left = torch.randint(0, w + 2 * self.pad - crop + 1, (n,), generator=gen)[mine.start:mine.stop]
            x = crop_windows(F.pad(x, (self.pad,) * 4), to_device(top, x.device), to_device(left, x.device), crop)
        side = self.crops.at(self.stream.epoch(iteration))
        if side != crop:  # progressive resizing: the same window at a lower resolution
            x = F.interpolate(x.float(), size=(side, side), mode="bilinear", antialias=True, align_corners=False)
            x = x.round_().clamp_(0, 255).to(torch.uint8)
        if self.flip:
            mirror = to_device(torch.rand(n, generator=gen)[mine.start:mine.stop] < 0.5, x.device)
            x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
        if self.augment is not None:  # one sample at a time, each from its slot's seed
            x = torch.stack([self.augment(image, int(self.stream.rng(iteration, slot).integers(2**63 - 1)))
                             for image, slot in zip(x, mine)])
        return ImageBatch(x, y)

    def iterate(self, start: int) -> Iterator[ImageBatch]:
        """Batches for iterations ``start, start + 1, ...``."""
        return (self.get(it) for it in count(start))


def crop_windows(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int) -> torch.Tensor:
    """Take the ``size x size`` window at ``(top[i], left[i])`` from each sample ``x[i]``, in one gather."""
    n, c = x.shape[:2]
    offsets = torch.arange(size, device=x.device)
    rows = (top[:, None] + offsets)[:, None, :, None]
    cols = (left[:, None] + offsets)[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return x[batch, channel, rows, cols]
