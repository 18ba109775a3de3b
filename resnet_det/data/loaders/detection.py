"""Detection training batches (images with usable boxes, random flips) and evaluation batches."""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from resnet_det.config import CfgNode, ConfigValueError
from resnet_det.data.decode.policy import read_or_none, read_or_substitute
from resnet_det.data.loaders.batches import DetectionBatch
from resnet_det.data.loaders.sampling import EpochStream, IterationSlots, draw_short_side

logger = logging.getLogger(__name__)


def hflip(image: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    """Mirror an image and its boxes, masks and polygons left to right."""
    width = image.shape[-1]
    target = dict(target)
    boxes = target["boxes"].clone()
    boxes[:, 0], boxes[:, 2] = width - target["boxes"][:, 2], width - target["boxes"][:, 0]
    target["boxes"] = boxes
    if "masks" in target:
        target["masks"] = target["masks"].flip(-1)
    if "polygons" in target:
        target["polygons"] = [None if instance is None else [_flip_xs(p, width) for p in instance]
                              for instance in target["polygons"]]
    return image.flip(-1), target


def _flip_xs(polygon: np.ndarray, width: int) -> np.ndarray:
    flipped = polygon.copy()
    flipped[0::2] = width - polygon[0::2]
    return flipped


class _TrainImages(Dataset):
    """Item ``(iteration, slot)``: that slot's image and target, maybe flipped, with its training size.
    An image that its smallest training size (``min(min_sizes)``, longest side ``max_size``) would
    shrink to a side of 0 pixels is a bad image, as an unreadable one is."""

    def __init__(self, dataset, indices: list[int], stream: EpochStream, flip: bool,
                 min_sizes: Sequence[int], sampling: str, on_bad_image: str, max_size: int | None = None) -> None:
        self.dataset, self.indices, self.stream, self.flip = dataset, indices, stream, flip
        self.min_sizes, self.sampling, self.on_bad_image = tuple(min_sizes), sampling, on_bad_image
        self.smallest = (min(self.min_sizes), max_size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: tuple[int, int]):
        iteration, slot = key
        position, image = read_or_substitute(lambda k: self.dataset.read_checked(self.indices[k], self.smallest),
                                             int(self.stream.indices(iteration)[slot]), len(self.indices),
                                             self.on_bad_image)
        target = self.dataset.target(self.indices[position])
        rng = self.stream.rng(iteration, self.stream.local_slots[slot])
        if self.flip and rng.random() < 0.5:
            image, target = hflip(image, target)
        target["short_side"] = draw_short_side(rng, self.min_sizes, self.sampling)
        return image, target


def _as_batch(samples: list[tuple[torch.Tensor | None, dict]]) -> DetectionBatch:
    return DetectionBatch([image for image, _ in samples], [target for _, target in samples])


def usable_indices(dataset, name: str) -> list[int]:
    """Images with at least one usable (non-crowd, positive-size) box; the rest are logged and skipped."""
    keep = [i for i in range(len(dataset)) if dataset.has_usable_boxes(i)]
    if len(keep) < len(dataset):
        logger.info("%s: %d of %d images have no usable annotations and are left out of training",
                    name, len(dataset) - len(keep), len(dataset))
    if not keep:
        raise ConfigValueError(f"{name}: no image has a usable annotation to train on (DATASETS.TRAIN)")
    return keep


class DetectionBatches:
    """Endless batches (lists of images and targets, on the device) of a training set."""

    def __init__(self, dataset, name: str, batch_size: int, *, seed: int, flip: bool,
                 min_sizes: Sequence[int], sampling: str, device: torch.device, num_workers: int,
                 rank: int = 0, world_size: int = 1, group_by_aspect_ratio: bool = True,
                 on_bad_image: str = "skip", max_size: int | None = None) -> None:
        indices = usable_indices(dataset, name)
        groups = np.array([dataset.is_landscape(i) for i in indices]) if group_by_aspect_ratio else None
        self.stream = EpochStream(len(indices), batch_size, seed=seed, rank=rank, world_size=world_size,
                                  groups=groups)
        self.samples = _TrainImages(dataset, indices, self.stream, flip, min_sizes, sampling, on_bad_image, max_size)
        self.device, self.num_workers = device, num_workers

    @classmethod
    def from_config(cls, cfg: CfgNode, dataset, device: torch.device, rank: int = 0,
                    world_size: int = 1) -> DetectionBatches:
        """The batches of ``dataset`` (``DATASETS.TRAIN`` loaded) as the config's SOLVER, INPUT and DATALOADER say."""
        return cls(dataset, "+".join(cfg.DATASETS.TRAIN), cfg.SOLVER.IMS_PER_BATCH, seed=cfg.SEED,
                   flip=cfg.INPUT.RANDOM_FLIP, min_sizes=cfg.INPUT.MIN_SIZE_TRAIN,
                   sampling=cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING, device=device, num_workers=cfg.DATALOADER.NUM_WORKERS,
                   rank=rank, world_size=world_size, group_by_aspect_ratio=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
                   on_bad_image=cfg.DATALOADER.ON_BAD_IMAGE, max_size=cfg.INPUT.MAX_SIZE_TRAIN)

    def iterate(self, start: int) -> Iterator[DetectionBatch]:
        loader = DataLoader(self.samples, batch_sampler=IterationSlots(start, self.stream.local),
                            num_workers=self.num_workers, collate_fn=_as_batch,
                            # Pinned, so the non-blocking copies below do not stall the GPU's queue.
                            pin_memory=self.device.type == "cuda", prefetch_factor=4 if self.num_workers else None)
        for batch in loader:
            yield batch.to(self.device)


class _EvalImages(Dataset):
    """Item ``i``: image ``i`` (None if it cannot be read or resized to ``resize``, under ``"skip"``)
    and its target."""

    def __init__(self, dataset, indices: range, on_bad_image: str, resize: tuple[int, int] | None = None) -> None:
        self.dataset, self.indices, self.on_bad_image, self.resize = dataset, indices, on_bad_image, resize

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, dict]:
        index = self.indices[i]
        image = read_or_none(lambda: self.dataset.read_checked(index, self.resize), self.on_bad_image,
                             "evaluating without image (it gets no detections)")
        return image, self.dataset.target(index)


def eval_batches(dataset, batch_size: int, num_workers: int, rank: int = 0, world_size: int = 1,
                 on_bad_image: str = "skip", resize: tuple[int, int] | None = None) -> DataLoader:
    """This rank's share of the images (every ``world_size``-th) in lists of ``batch_size``.

    An unreadable image comes as None with its target, so that it still counts in the evaluation
    (as an image where nothing was found) under ``on_bad_image="skip"``.
    """
    shard = _EvalImages(dataset, range(rank, len(dataset), world_size), on_bad_image, resize)
    return DataLoader(shard, batch_size=batch_size, num_workers=num_workers, collate_fn=_as_batch)


def detection_test_batches(cfg: CfgNode, dataset, rank: int = 0, world_size: int = 1) -> DataLoader:
    """:func:`eval_batches` of a test set with the config's TEST and DATALOADER settings."""
    resize = (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) if cfg.INPUT.MIN_SIZE_TEST else None
    return eval_batches(dataset, cfg.TEST.IMS_PER_BATCH, cfg.DATALOADER.NUM_WORKERS, rank, world_size,
                        cfg.DATALOADER.ON_BAD_IMAGE, resize)
