"""Weights files: read from a path or URL without running code from them, and written atomically in
resnet_det, torchvision or detectron2 form. Every reader returns resnet_det (detectron2) parameter
names: torch files load with ``weights_only=True`` and ``.pkl`` files through
:mod:`resnet_det.utils.safe_pickle`."""
from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from resnet_det.utils.atomic import atomic_torch_save, atomic_write
from resnet_det.utils.download import fetch
from resnet_det.utils.safe_pickle import UnsafePickleError, safe_pickle_load
from resnet_det.weights.formats import (
    FORMATS,
    WRITABLE_FORMATS,
    Weights,
    WeightsFileError,
    _to_tensor,
    _unwrap,
    check_finite,
    detect_format,
    strip_prefix,
)
from resnet_det.weights.names import (
    caffe2_to_resnet_det,
    infer_arch,
    resnet_det_to_torchvision,
    torchvision_to_resnet_det,
)

# detectron2's public model store (its "detectron2://" prefix, as in detectron2's own configs).
DETECTRON2_STORE = "https://dl.fbaipublicfiles.com/detectron2/"

_RESNET_NAMES = tuple(f"resnet{d}" for d in (18, 34, 50, 101, 152))

def _torchvision_url(spec: str) -> str:
    """The file of ``torchvision://resnet101`` (its default weights) or ``torchvision://resnet50/IMAGENET1K_V1``."""
    import torchvision  # only where asked for

    name, _, variant = spec.partition("/")
    if name not in _RESNET_NAMES:
        raise WeightsFileError(f"torchvision://{spec}: expected one of {', '.join(_RESNET_NAMES)}, "
                               "optionally with /<weights>, e.g. torchvision://resnet50/IMAGENET1K_V2")
    enum = torchvision.models.get_model_weights(name)
    try:
        return (enum[variant] if variant else enum.DEFAULT).url
    except KeyError:
        raise WeightsFileError(f"torchvision://{spec}: {name} has the weights {', '.join(enum.__members__)}") from None

def resolve_weights(spec: str | os.PathLike) -> Path:
    """The local file of a weights location: a path; an ``http(s)://`` URL; detectron2's
    ``detectron2://<path in its model store>``; or ``torchvision://resnet50[/<weights>]``. URLs
    are downloaded once into the cache (:mod:`resnet_det.utils.download`)."""
    text = str(spec)
    if text.startswith("detectron2://"):
        text = DETECTRON2_STORE + text.removeprefix("detectron2://")
    elif text.startswith("torchvision://"):
        text = _torchvision_url(text.removeprefix("torchvision://"))
    return fetch(text, check=download_problem) if text.startswith(("http://", "https://")) else Path(text)

_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save before the zip format

def download_problem(head: bytes, tail: bytes) -> str | None:
    """Why a downloaded body (its first and last bytes) is not a complete weights file, or None: a
    torch zip archive must end with its directory record, a pickle with its STOP opcode."""
    if head.startswith(b"PK\x03\x04"):
        return None if b"PK\x05\x06" in tail else "a zip (torch) file cut short: its end record is missing"
    if head.startswith(_LEGACY_TORCH_MAGIC):
        return None  # raw tensor data follows the pickles; torch.load checks the rest
    if head[:1] == b"\x80":
        return None if tail.endswith(b".") else "a pickle cut short: it does not end with its STOP opcode"
    return f"not a torch or pickle weights file (it starts with {head[:16]!r})"

def torch_load_problem(error: pickle.UnpicklingError) -> tuple[bool, str]:
    """``(refused, why)`` of a ``torch.load(weights_only=True)`` error: whether the file asked for
    code (an import or a call), and torch's line that says what, without its advice to load unsafely."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    specific = [line for line in lines[1:] if not line.startswith(("Check the documentation", "Please file"))]
    why = (specific or lines or [type(error).__name__])[0]
    return bool(re.search(r"GLOBAL|reduce", why)), why

def _load_by_content(path: Path, head: bytes) -> Any:
    if head.startswith((b"PK\x03\x04", _LEGACY_TORCH_MAGIC)):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            refused, why = torch_load_problem(e)
            raise WeightsFileError(f"{path}: refused to load: {why}" if refused else
                                   f"{path}: not a readable weights file, damaged or of another kind ({why})") from None
    if head[:1] == b"\x80" or path.suffix == ".pkl":  # protocol 2+ pickles; older ones by their name
        try:
            return safe_pickle_load(path)
        except UnsafePickleError as e:
            raise WeightsFileError(f"{path}: refused to load: {e}") from None
    raise WeightsFileError(f"{path}: not a torch or pickle weights file (it starts with {head[:16]!r})")

def read_weights_file(path: str | os.PathLike) -> Any:
    """Load the raw object in ``path`` (or at a URL :func:`resolve_weights` takes) without running code
    from it: a torch file (zip or legacy) with ``weights_only=True``, a pickle through the restricted
    unpickler, told apart by their first bytes rather than their names."""
    path = resolve_weights(path)
    if not path.is_file():
        raise WeightsFileError(f"{path}: no such weights file")
    try:
        with open(path, "rb") as f:
            head = f.read(64)
        return _load_by_content(path, head)
    except WeightsFileError:
        raise
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, RecursionError, MemoryError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise WeightsFileError(f"{path}: not a readable weights file, damaged or of another kind "
                               f"({type(e).__name__}: {first})") from None

def load_weights(path: str | os.PathLike, fmt: str | None = None, strip: str | None = None) -> Weights:
    """Read any supported checkpoint in ``path`` as :class:`Weights` in resnet_det names; with
    ``strip``, only its tensors under that prefix (see :func:`strip_prefix`)."""
    obj = read_weights_file(path)
    try:
        return _weights_of(obj, fmt, strip)
    except WeightsFileError as e:
        raise WeightsFileError(f"{path}: {e}") from None
    except (TypeError, AttributeError, ValueError, KeyError, IndexError, RuntimeError) as e:
        raise WeightsFileError(f"{path}: not a weights file of a known layout ({type(e).__name__}: {e})") from None

def _weights_of(obj: Any, fmt: str | None, strip: str | None) -> Weights:
    """:func:`load_weights` of an object already read."""
    if strip:
        obj = strip_prefix(obj, strip)
    fmt = fmt or detect_format(obj)
    if fmt not in FORMATS:
        raise WeightsFileError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    state = _unwrap(obj)
    meta = obj.get("meta") if fmt == "resnet_det" else obj
    meta = meta if isinstance(meta, Mapping) else {}  # a bare state dict says nothing about itself
    style = meta.get("weight_style")
    if fmt == "torchvision":
        state, style = {k: _to_tensor(v) for k, v in torchvision_to_resnet_det(state).items()}, "torchvision"
    elif fmt == "caffe2":
        state, style = caffe2_to_resnet_det(state), "caffe"
    else:
        state = {k: _to_tensor(v) for k, v in state.items()}
        if fmt == "detectron2" and style is None and obj.get("__author__") == "torchvision":
            style = "torchvision"  # written by detectron2's convert-torchvision-to-d2
    check_finite(state)
    weights = Weights(state, style, None, fmt)
    weights.arch = meta.get("arch") or infer_arch(state)
    if fmt == "resnet_det" and isinstance(meta.get("classes"), list):
        weights.classes = tuple(str(c) for c in meta["classes"])
    return weights

def save_weights(weights: Weights, path: str | os.PathLike, fmt: str = "resnet_det") -> Path:
    """Write ``weights`` to ``path`` in ``fmt`` (one of :data:`WRITABLE_FORMATS`), atomically."""
    state = {k: v.detach().cpu() for k, v in weights.state_dict.items()}
    if fmt == "resnet_det":
        return atomic_torch_save({"model": state, "meta": weights.meta()}, path)
    if fmt == "torchvision":
        if weights.weight_style != "torchvision" and _has_bottlenecks(state):
            raise WeightsFileError(
                f"{path}: these weights are {weights.weight_style or 'of unknown'} style; torchvision's "
                "ResNet puts the bottleneck stride in the 3x3, so it would compute a different function")
        return atomic_torch_save(resnet_det_to_torchvision(state), path)
    if fmt == "detectron2":
        payload = {
            # BN step counters are training bookkeeping that detectron2's checkpoints never carry.
            "model": {k: v.numpy() for k, v in state.items() if not k.endswith("num_batches_tracked")},
            "__author__": "resnet_det",
            # Lets detectron2 match "res5.*" to "roi_heads.res5.*" in C4 models.
            "matching_heuristics": True,
            **{k: v for k, v in weights.meta().items() if k != "format"},
        }
        return atomic_write(path, lambda f: pickle.dump(payload, f, protocol=4))
    raise ValueError(f"cannot write format {fmt!r}; expected one of {WRITABLE_FORMATS}")

def _has_bottlenecks(state: Mapping[str, torch.Tensor]) -> bool:
    return any(".conv3." in k for k in state)
