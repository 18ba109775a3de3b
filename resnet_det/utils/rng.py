"""Draws from torch's global generator that belong to a seed alone."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Torch's global CPU generator seeded with ``seed`` for the duration and restored after, for code
    that draws from it (module initialisers, torchvision's transforms): its draws are the seed's, and
    the caller's stream goes on as if nothing had been drawn."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
