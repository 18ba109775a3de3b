"""The train and test batch sources of a classification dataset, as the trainer draws them: in-memory
sets (CIFAR-10, the built-in shapes) live on the training device and are augmented there; image-file
sets (ImageNet) are decoded and augmented by DataLoader workers."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from resnet_det.config import CfgNode
from resnet_det.data.datasets.classification import ArrayDataset, FileDataset
from resnet_det.data.loaders.batches import ViewBatch
from resnet_det.data.loaders.cls_transforms import check_test_flip
from resnet_det.data.loaders.crop_schedule import CropSchedule
from resnet_det.data.loaders.image_files import FileBatches, file_eval_batches
from resnet_det.data.loaders.sample_augment import SampleAugment
from resnet_det.data.loaders.tensors import TensorBatches
from resnet_det.utils.geometry import hwc_to_chw

EvalBatches = Iterator[ViewBatch]


def _nchw(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return hwc_to_chw(images).contiguous().to(device)


def array_eval_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, rank: int = 0,
                       world_size: int = 1, flip: bool = False) -> EvalBatches:
    """Batches of this rank's share (every ``world_size``-th image) of in-memory images: each image
    whole, and with ``flip`` its mirror image as a second view."""
    local = torch.arange(rank, len(images), world_size, device=images.device)
    for start in range(0, len(local), batch_size):
        idx = local[start:start + batch_size]
        x = images[idx]
        yield ViewBatch([x, x.flip(-1)] if flip else [x], labels[idx])


def build_train_batches(cfg: CfgNode, dataset: ArrayDataset | FileDataset, device: torch.device, rank: int,
                        world_size: int, augment: SampleAugment | None = None) -> TensorBatches | FileBatches:
    """The endless, augmented training batch source for ``dataset``; ``augment`` (per sample) after
    each sample's crop and flip."""
    common = dict(seed=cfg.SEED, flip=cfg.INPUT.RANDOM_FLIP, rank=rank, world_size=world_size,
                  repeats=cfg.DATALOADER.REPEATED_AUGMENTATIONS, augment=augment, crop=CropSchedule.from_config(cfg))
    if isinstance(dataset, ArrayDataset):
        return TensorBatches(_nchw(dataset.images, device), torch.from_numpy(dataset.labels).to(device),
                             cfg.SOLVER.IMS_PER_BATCH, pad=cfg.INPUT.PAD, **common)
    return FileBatches(dataset.paths, dataset.labels, cfg.SOLVER.IMS_PER_BATCH,
                       shorter_side=cfg.INPUT.MIN_SIZE_TRAIN, sampling=cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING,
                       device=device, num_workers=cfg.DATALOADER.NUM_WORKERS,
                       on_bad_image=cfg.DATALOADER.ON_BAD_IMAGE, max_pixels=cfg.DATALOADER.MAX_IMAGE_PIXELS,
                       decode_on_device=cfg.DATALOADER.DECODE_ON_DEVICE, crop_mode=cfg.INPUT.CROP_MODE, **common)


def build_eval_batches(cfg: CfgNode, dataset: ArrayDataset | FileDataset, device: torch.device,
                       rank: int, world_size: int) -> Callable[[], EvalBatches]:
    """A function giving a fresh pass over this rank's share of ``dataset``."""
    if isinstance(dataset, ArrayDataset):
        images, labels = _nchw(dataset.images, device), torch.from_numpy(dataset.labels).to(device)
        return lambda: array_eval_batches(images, labels, cfg.TEST.IMS_PER_BATCH, rank, world_size, cfg.TEST.FLIP)
    check_test_flip(cfg.TEST.MODE, cfg.TEST.FLIP)
    return lambda: file_eval_batches(
        dataset.paths, dataset.labels, batch_size=cfg.TEST.IMS_PER_BATCH, num_workers=cfg.DATALOADER.NUM_WORKERS,
        rank=rank, world_size=world_size, mode=cfg.TEST.MODE, resize=cfg.TEST.RESIZE, crop=cfg.TEST.CROP_SIZE,
        scales=cfg.TEST.SCALES, flip=cfg.TEST.FLIP, max_pixels=cfg.DATALOADER.MAX_IMAGE_PIXELS,
        on_bad_image=cfg.DATALOADER.ON_BAD_IMAGE)
