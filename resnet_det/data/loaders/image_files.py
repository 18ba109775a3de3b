"""Training and evaluation batches decoded from image files by DataLoader workers (ImageNet)."""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from resnet_det.config import ConfigValueError
from resnet_det.data.decode.files import DEFAULT_MAX_PIXELS, EncodedImage, decode_rgb, read_encoded, read_rgb
from resnet_det.data.decode.policy import read_or_none, read_or_substitute
from resnet_det.data.loaders.batches import UNREADABLE, ImageBatch, LabelledImage, ViewBatch
from resnet_det.data.loaders.cls_transforms import eval_views, sample_view, train_view
from resnet_det.data.loaders.crop_schedule import CropSchedule
from resnet_det.data.loaders.device_decode import JpegSample, Sample, decode_batch, device_decodable, pack
from resnet_det.data.loaders.sample_augment import SampleAugment
from resnet_det.data.loaders.sampling import EpochStream, IterationSlots
from resnet_det.utils.geometry import hwc_to_chw

logger = logging.getLogger(__name__)


class _TrainSamples(Dataset):
    """Item ``(iteration, slot)``: the augmented sample that slot of that iteration gets."""

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], stream: EpochStream, *, crops: CropSchedule,
                 on_bad_image: str, max_pixels: int, augment: SampleAugment | None = None, **view_kwargs) -> None:
        self.paths, self.labels, self.stream, self.crops, self.view_kwargs = paths, labels, stream, crops, view_kwargs
        self.on_bad_image, self.max_pixels, self.augment = on_bad_image, max_pixels, augment

    def __len__(self) -> int:
        return len(self.paths)

    def _draw(self, key: tuple[int, int]) -> tuple[int, np.random.Generator, dict[str, Any]]:
        """The dataset index, the generator and the view's arguments (the epoch's crop) of ``key``."""
        iteration, slot = key
        crop = self.crops.at(self.stream.epoch(iteration))
        # A progressive crop is the same share of the image at a lower resolution (as FFCV's), so the
        # scale augmentation's shorter sides shrink with it.
        sides = tuple(round(s * crop / self.crops.size) for s in self.view_kwargs["shorter_side"])
        view_kwargs = dict(self.view_kwargs, crop=crop, shorter_side=sides)
        return (int(self.stream.indices(iteration)[slot]), self.stream.rng(iteration, self.stream.local_slots[slot]),
                view_kwargs)

    def __getitem__(self, key: tuple[int, int]) -> LabelledImage:
        index, rng, view_kwargs = self._draw(key)
        # An unreadable file is logged and replaced by a deterministic neighbour, so one bad JPEG
        # does not end a days-long run.
        position, image = read_or_substitute(lambda k: read_rgb(self.paths[k], max_pixels=self.max_pixels),
                                             index, len(self.paths), self.on_bad_image)
        view = hwc_to_chw(train_view(image, rng, **view_kwargs))
        if self.augment is not None:
            view = self.augment(view, int(rng.integers(2**63 - 1)))
        return LabelledImage(view, self.labels[position])


class _DeviceSamples(_TrainSamples):
    """Item ``(iteration, slot)``: that slot's JPEG and view, for :func:`decode_batch` on the
    training device; a file the device should not decode comes finished, as from :class:`_TrainSamples`."""

    def _read(self, k: int) -> EncodedImage | np.ndarray:
        encoded = read_encoded(self.paths[k], max_pixels=self.max_pixels)
        return encoded if device_decodable(encoded) else decode_rgb(encoded)

    def __getitem__(self, key: tuple[int, int]) -> Sample:
        index, rng, view_kwargs = self._draw(key)
        position, item = read_or_substitute(self._read, index, len(self.paths), self.on_bad_image)
        if isinstance(item, np.ndarray):
            return LabelledImage(hwc_to_chw(train_view(item, rng, **view_kwargs)), self.labels[position])
        return JpegSample(item, sample_view(item.height, item.width, rng, **view_kwargs), self.labels[position])


def _stack(batch: list[LabelledImage]) -> ImageBatch:
    return ImageBatch(torch.stack([s.image for s in batch]), torch.tensor([s.label for s in batch]))


class FileBatches:
    """Endless training batches from image files with scale augmentation, crop and flip.

    With ``decode_on_device``, JPEGs are decoded and augmented on ``device`` by the main process
    (see :mod:`resnet_det.data.device_decode`) and the workers only read them. ``repeats``:
    repeated augmentation (see :class:`EpochStream`); ``crop``: the side, or a :class:`CropSchedule`
    by epoch; ``crop_mode``: see :func:`sample_view`;
    ``augment``: per-sample augmentation after the view, in the workers.
    """

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], batch_size: int, *, seed: int,
                 shorter_side: Sequence[int], sampling: str, crop: int | CropSchedule, flip: bool, device: torch.device,
                 num_workers: int, rank: int = 0, world_size: int = 1, on_bad_image: str = "skip",
                 max_pixels: int = DEFAULT_MAX_PIXELS, decode_on_device: bool = False, repeats: int = 1,
                 crop_mode: str = "scale", augment: SampleAugment | None = None) -> None:
        if augment is not None and decode_on_device:
            raise ConfigValueError("INPUT.AUTO_AUGMENT and INPUT.RANDOM_ERASING run in the loader workers; they "
                                   "cannot be combined with DATALOADER.DECODE_ON_DEVICE")
        self.stream = EpochStream(len(paths), batch_size, seed=seed, rank=rank, world_size=world_size, repeats=repeats)
        samples = _DeviceSamples if decode_on_device else _TrainSamples
        self.samples = samples(paths, labels, self.stream, on_bad_image=on_bad_image, max_pixels=max_pixels,
                               crops=CropSchedule.of(crop),
                               shorter_side=tuple(shorter_side), sampling=sampling, flip=flip,
                               crop_mode=crop_mode, augment=augment)
        self.device, self.num_workers, self.decode_on_device = device, num_workers, decode_on_device
        if decode_on_device and device.type != "cuda":
            logger.warning("DATALOADER.DECODE_ON_DEVICE on %s: the main process decodes one image at a time, slower "
                           "than the workers would; the option is for GPUs", device)

    def iterate(self, start: int) -> Iterator[ImageBatch]:
        """Batches for iterations ``start, start + 1, ...``, read (and decoded) ahead by the workers."""
        loader = DataLoader(self.samples, batch_sampler=IterationSlots(start, self.stream.local),
                            num_workers=self.num_workers, collate_fn=pack if self.decode_on_device else _stack,
                            pin_memory=self.device.type == "cuda" and not self.decode_on_device,
                            prefetch_factor=4 if self.num_workers else None)
        for batch in loader:
            if self.decode_on_device:
                yield decode_batch(batch, self.device, self.samples.on_bad_image)
            else:
                yield ImageBatch(batch.images.to(self.device, non_blocking=True),
                                 batch.labels.to(self.device, non_blocking=True))


class _EvalSamples(Dataset):
    def __init__(self, paths: Sequence[Path], labels: Sequence[int], max_pixels: int, on_bad_image: str,
                 **view_kwargs) -> None:
        self.paths, self.labels, self.max_pixels, self.view_kwargs = paths, labels, max_pixels, view_kwargs
        self.on_bad_image = on_bad_image

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[list[torch.Tensor], int]:
        label = self.labels[index]
        image = read_or_none(lambda: read_rgb(self.paths[index], max_pixels=self.max_pixels), self.on_bad_image,
                             "counting an unreadable test image as misclassified")
        if image is None:
            image, label = np.zeros((self.view_kwargs.get("resize", 256),) * 2 + (3,), np.uint8), UNREADABLE
        return [hwc_to_chw(v) for v in eval_views(image, **self.view_kwargs)], label


def _stack_views(batch: list[tuple[list[torch.Tensor], int]]) -> ViewBatch:
    num_views = len(batch[0][0])
    return ViewBatch([torch.stack([views[v] for views, _ in batch]) for v in range(num_views)],
                     torch.tensor([y for _, y in batch]))


def file_eval_batches(paths: Sequence[Path], labels: Sequence[int], *, batch_size: int, num_workers: int,
                      rank: int = 0, world_size: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS,
                      on_bad_image: str = "skip", **view_kwargs) -> Iterator[ViewBatch]:
    """Batches of this rank's share of the images, each view N x 3 x H x W.

    Multi-scale views keep each image's aspect ratio, so they come one image per batch. Under
    ``on_bad_image="skip"`` an unreadable image comes as a black one labelled :data:`UNREADABLE`.
    """
    shard = list(range(rank, len(paths), world_size))
    dataset = _EvalSamples([paths[i] for i in shard], [labels[i] for i in shard], max_pixels, on_bad_image,
                           **view_kwargs)
    if view_kwargs.get("mode") == "multiscale":
        batch_size = 1
    return iter(DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_stack_views))
