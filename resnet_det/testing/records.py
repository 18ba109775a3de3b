"""Compact JSON forms of what the detectron2 comparison records: masks, gradients, pixel samples and
learning-rate schedules. The recording tool writes them from detectron2's outputs and the tests
compute the same forms from resnet_det's, so both sides are encoded by one piece of code."""
from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence

import numpy as np
import torch

# Values of each gradient stored as they are (the rest is summarised by its norm and projections).
GRADIENT_HEAD = 16
GRADIENT_PROJECTIONS = 3
PIXEL_SAMPLES = 512


def encode_rle(mask: torch.Tensor | np.ndarray) -> dict:
    """A bool H x W mask as COCO's compressed RLE, ``{"size": [H, W], "counts": str}``."""
    from pycocotools import mask as mask_utils
    array = mask.numpy() if isinstance(mask, torch.Tensor) else mask
    rle = mask_utils.encode(np.asfortranarray(array.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode()}


def decode_rle(rle: dict) -> torch.Tensor:
    """The bool H x W mask of :func:`encode_rle`'s output."""
    from pycocotools import mask as mask_utils
    return torch.from_numpy(mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})).bool()


def pack_bits(mask: torch.Tensor | np.ndarray) -> str:
    """A small bool mask as base64 of its packed bits (row-major); :func:`unpack_bits` reverses it."""
    array = mask.numpy() if isinstance(mask, torch.Tensor) else mask
    return base64.b64encode(np.packbits(array.astype(bool)).tobytes()).decode()


def unpack_bits(bits: str, shape: Sequence[int]) -> torch.Tensor:
    count = int(np.prod(shape))
    return torch.from_numpy(np.unpackbits(np.frombuffer(base64.b64decode(bits), np.uint8))[:count]
                            .reshape(tuple(shape)).astype(bool))


def _signs(name: str, numel: int) -> torch.Tensor:
    """``GRADIENT_PROJECTIONS`` vectors of ±1 seeded by a parameter's name."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return torch.randint(0, 2, (GRADIENT_PROJECTIONS, numel), generator=g).double() * 2 - 1


def gradient_record(name: str, grad: torch.Tensor) -> dict:
    """A gradient's norm, its first ``GRADIENT_HEAD`` values and its projections on ±1 vectors seeded
    by its name: its size and direction, told apart without storing it."""
    flat = grad.detach().double().flatten()
    return {"numel": flat.numel(), "norm": flat.norm().item(), "head": flat[:GRADIENT_HEAD].tolist(),
            "projections": (_signs(name, flat.numel()) @ flat).tolist()}


def pixel_sample(image: np.ndarray, seed: int = 0) -> dict:
    """An H x W x C image's shape and its values at ``PIXEL_SAMPLES`` seeded positions."""
    g = np.random.default_rng(seed)
    ys, xs = g.integers(0, image.shape[0], PIXEL_SAMPLES), g.integers(0, image.shape[1], PIXEL_SAMPLES)
    return {"shape": list(image.shape), "ys": ys.tolist(), "xs": xs.tolist(), "values": image[ys, xs].tolist()}


def runs(values: Sequence[float]) -> list[list]:
    """``values`` as ``[value, how many times in a row]`` pairs; :func:`expand_runs` reverses it."""
    out: list[list] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return out


def expand_runs(pairs: Sequence[Sequence]) -> list[float]:
    return [value for value, count in pairs for _ in range(int(count))]
