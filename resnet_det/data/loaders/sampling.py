"""Which samples a training iteration gets, as a pure function of ``(seed, iteration, rank)``.

No sampler state needs saving: a run resumed at iteration ``k`` draws exactly the samples the
uninterrupted run drew at ``k``.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import count

import numpy as np
import torch
from torch.utils.data import Sampler

from resnet_det.config import ConfigValueError


class EpochStream:
    """Endless epochs, each a fresh permutation of ``num_samples``, cut into global batches.

    A global batch of ``batch_size`` is split evenly among ``world_size`` ranks; an epoch's last
    partial batch is dropped. With ``groups`` (a group id per sample, e.g. landscape/portrait),
    every batch is drawn from one group, except the few built from the groups' leftovers at the
    end of an epoch, so a batch pads its images to a similar shape.

    With ``repeats`` R above 1 (repeated augmentation, Hoffer et al. 2020; torchvision's V2 recipe
    uses 4), a global batch holds ``batch_size / R`` samples, each R times, at slots ``batch_size /
    R`` apart: each copy gets its own augmentation draw (draws follow the slot), and with R at most
    ``world_size`` the copies land on different ranks. An epoch keeps its number of iterations, so
    it sees a new ``1 / R`` of the samples, as torchvision's sampler does.
    """

    def __init__(self, num_samples: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1,
                 groups: np.ndarray | None = None, repeats: int = 1) -> None:
        if batch_size % world_size:
            raise ConfigValueError(f"SOLVER.IMS_PER_BATCH {batch_size} is not divisible by {world_size} processes")
        if repeats < 1 or batch_size % repeats:
            raise ConfigValueError(f"DATALOADER.REPEATED_AUGMENTATIONS {repeats} must be positive and divide "
                                   f"SOLVER.IMS_PER_BATCH {batch_size}")
        if repeats > 1 and groups is not None:
            raise ValueError("repeated augmentation and aspect-ratio groups cannot be combined")
        if batch_size > num_samples:
            raise ConfigValueError(f"SOLVER.IMS_PER_BATCH {batch_size} exceeds the training set's {num_samples} "
                                   "usable images")
        self.num_samples, self.batch_size = num_samples, batch_size
        self.local = batch_size // world_size
        self.seed, self.rank, self.repeats = seed, rank, repeats
        if groups is not None and len(groups) != num_samples:
            raise ValueError(f"{len(groups)} group ids for {num_samples} samples")
        self.groups = None if groups is None else np.asarray(groups)
        self._epoch_order: tuple[int, np.ndarray] | None = None

    @property
    def local_slots(self) -> range:
        """This rank's positions within the global batch."""
        return range(self.rank * self.local, (self.rank + 1) * self.local)

    def _order(self, epoch: int) -> np.ndarray:
        # Loader workers ask once per sample and a permutation of ImageNet's 1.28M is not free, so
        # each process keeps the current epoch's.
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(self.num_samples)
            if self.groups is not None:
                order = self._grouped(order, rng)
            self._epoch_order = (epoch, order)
        return self._epoch_order[1]

    def _grouped(self, order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``order`` rearranged into single-group batches in random order, then the leftovers."""
        batches, leftovers = [], []
        for group in np.unique(self.groups):
            members = order[self.groups[order] == group]
            full = len(members) // self.batch_size * self.batch_size
            batches += np.split(members[:full], full // self.batch_size) if full else []
            leftovers.append(members[full:])
        batches = [batches[i] for i in rng.permutation(len(batches))]
        return np.concatenate(batches + leftovers)

    @property
    def iterations_per_epoch(self) -> int:
        return self.num_samples // self.batch_size

    def epoch(self, iteration: int) -> int:
        """The epoch (0-based) that ``iteration`` belongs to."""
        return iteration // self.iterations_per_epoch

    def indices(self, iteration: int) -> np.ndarray:
        """Dataset indices of this rank's samples at ``iteration``."""
        epoch, step = divmod(iteration, self.iterations_per_epoch)
        order = self._order(epoch)
        if self.repeats > 1:
            unique = self.batch_size // self.repeats
            return np.tile(order[step * unique:(step + 1) * unique], self.repeats)[self.local_slots.start:
                                                                                  self.local_slots.stop]
        start = step * self.batch_size + self.local_slots.start
        return order[start:start + self.local]

    # Augmentation draws depend on the sample's position in the global batch, never on the rank, so
    # N processes see exactly the batches one process would.

    def rng(self, iteration: int, slot: int) -> np.random.Generator:
        """A generator for the sample at global ``slot`` of ``iteration``."""
        return np.random.default_rng([self.seed, iteration, slot])

    def torch_generator(self, iteration: int) -> torch.Generator:
        """A torch generator for whole-global-batch draws at ``iteration`` (slice with ``local_slots``)."""
        seed = int(np.random.default_rng([self.seed, iteration]).integers(2**63 - 1))
        return torch.Generator().manual_seed(seed)


SIZE_SAMPLINGS = ("choice", "range")


def draw_short_side(rng: np.random.Generator, sizes: Sequence[int], sampling: str) -> int:
    """A training image's shorter side: one of ``sizes`` (``"choice"``) or uniform in their
    ``[min, max]`` (``"range"``; the paper's ImageNet scale augmentation is [256, 480])."""
    if sampling == "range":
        return int(rng.integers(min(sizes), max(sizes) + 1))
    if sampling == "choice":
        return int(sizes[rng.integers(len(sizes))])
    raise ValueError(f"unknown size sampling {sampling!r}; expected one of {SIZE_SAMPLINGS}")


class IterationSlots(Sampler):
    """A DataLoader batch sampler yielding ``[(iteration, slot), ...]`` for iterations from ``start`` on.

    The dataset resolves each key through an :class:`EpochStream`, so workers decode exactly the
    samples (and draw exactly the augmentations) that iteration is owed.
    """

    def __init__(self, start: int, slots: int) -> None:
        self.start, self.slots = start, slots

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for it in count(self.start):
            yield [(it, s) for s in range(self.slots)]
