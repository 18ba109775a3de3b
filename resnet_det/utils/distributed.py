"""torch.distributed set-up for ``torchrun`` launches, and helpers that are no-ops in one process."""
from __future__ import annotations

import os
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from resnet_det.errors import UserError

T = TypeVar("T")


class DeviceUnavailableError(UserError, RuntimeError):
    """The device a config asks for is not on this machine."""


def resolve_device(name: str) -> torch.device:
    """``name`` (``"auto"``: CUDA when available, ``"cuda"``, ``"cuda:1"``, ``"cpu"``) as a device,
    refused when it asks for CUDA that is not there."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailableError(f"MODEL.DEVICE {name}: no CUDA device is available on this machine; "
                                     "use MODEL.DEVICE cpu (or auto)")
    return torch.device(name)


def rank_device(device: str) -> torch.device:
    """This process's device for ``device`` (``"auto"``: CUDA when available, ``"cuda"``, ``"cpu"``):
    each rank takes the GPU ``LOCAL_RANK``."""
    resolved = resolve_device(device)
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if resolved.type == "cuda" else resolved


def init_distributed(device: str) -> torch.device:
    """Join the process group that ``torchrun`` describes (if any), make this rank's GPU the current
    one, and return this rank's device (:func:`rank_device`). NCCL on CUDA, gloo on the CPU."""
    torch_device = rank_device(device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        timeout = timedelta(minutes=30)
        store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
        # torchrun keeps one store across restarts, so a restarted group would read the dead
        # group's addresses and hang or fail to connect (torch 2.14, --standalone): each attempt
        # gets keys of its own.
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        dist.init_process_group(backend, store=dist.PrefixStore(f"resnet_det/attempt_{attempt}", store),
                                rank=rank, world_size=world_size, timeout=timeout)
    return torch_device


def get_rank() -> int:
    """This process's rank; before the group is joined, the one its launcher gave it (``RANK``)."""
    return dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks (in place) and return it."""
    if get_world_size() > 1:
        dist.all_reduce(tensor)
    return tensor


def gather_to_main(items: list[T]) -> list[T]:
    """Every rank's ``items`` concatenated in rank order on the main process; ``[]`` elsewhere.

    Only the main process receives: the others' memory never holds what they did not produce.
    """
    if get_world_size() == 1:
        return list(items)
    parts: list[list[T]] | None = [[] for _ in range(get_world_size())] if is_main_process() else None
    dist.gather_object(items, parts, dst=0)
    return [item for part in parts for item in part] if parts is not None else []


def broadcast_from_main(value: T) -> T:
    """The main process's ``value`` on every rank."""
    if get_world_size() == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
