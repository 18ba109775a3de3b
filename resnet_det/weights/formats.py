"""What a checkpoint holds, whatever file it came from: the formats told apart by their keys, the
state dict inside common wrappers, and :class:`Weights`, a state dict in resnet_det names with what is
known about it."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from resnet_det.errors import UserError

FORMATS = ("resnet_det", "torchvision", "detectron2", "caffe2")

WRITABLE_FORMATS = ("resnet_det", "torchvision", "detectron2")

class WeightsFileError(UserError, ValueError):
    """A weights file that cannot be read or converted; the message names the file."""

@dataclass
class Weights:
    """A state dict in resnet_det names plus what is known about it."""

    state_dict: dict[str, torch.Tensor]
    weight_style: str | None = None
    arch: str | None = None
    source_format: str = "resnet_det"
    classes: tuple[str, ...] | None = None  # the names of the outputs, where the trainer recorded them

    def meta(self) -> dict[str, Any]:
        meta = {"format": "resnet_det", "weight_style": self.weight_style, "arch": self.arch}
        return meta if self.classes is None else {**meta, "classes": list(self.classes)}

def _to_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        # A copy: pickled arrays may be read-only or strided, and 0-d arrays must stay 0-d.
        return torch.from_numpy(np.array(value, order="C", copy=True))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.as_tensor(value)
    raise WeightsFileError(f"holds a {type(value).__name__} where a tensor belongs")

def check_finite(state: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`WeightsFileError` naming the first tensor that holds a NaN or an infinity (weights
    saved from a diverged run, which would load and then detect or classify nothing)."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(value.isfinite().all()):
            raise WeightsFileError(f"tensor {key} holds NaN or infinite values (saved from a diverged run?); "
                                   "use a checkpoint from before the divergence")

def detect_format(obj: Any) -> str:
    """Guess which of :data:`FORMATS` a loaded checkpoint object is in."""
    if not isinstance(obj, Mapping):
        raise WeightsFileError(f"expected a dict of weights, found {type(obj).__name__}")
    if isinstance(obj.get("meta"), Mapping) and obj["meta"].get("format") == "resnet_det":
        return "resnet_det"
    if "blobs" in obj:
        return "caffe2"
    if "__author__" in obj and isinstance(obj.get("model"), Mapping):
        return "caffe2" if _looks_caffe2(obj["model"]) else "detectron2"
    state = _unwrap(obj)
    if any(k.startswith(("backbone.stem.", "backbone.res", "roi_heads.")) for k in state):
        return "detectron2"  # a detectron2 detector checkpoint (model_final.pth)
    if fmt := _plain_format(state):
        return fmt
    for prefix in WRAPPER_PREFIXES:
        inner = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        if inner and _plain_format(inner):
            example = next(k for k in state if k.startswith(prefix))
            raise WeightsFileError(f"its keys start with {prefix!r} (e.g. {example}): a ResNet inside a wrapper; "
                                   f"convert it with --strip-prefix {prefix} (load_weights(..., strip={prefix!r}))")
    raise WeightsFileError(f"cannot tell the checkpoint format from its {len(state)} keys (first few: "
                           f"{sorted(state)[:5]}): not a torchvision, resnet_det, detectron2 or MSRA ResNet")

# Where training frameworks nest a ResNet's weights: DataParallel/DDP, mmpretrain and mmdetection
# backbones, MoCo's query encoder.
WRAPPER_PREFIXES = ("module.encoder_q.", "module.", "backbone.", "encoder.")

def _plain_format(state: Mapping[str, Any]) -> str | None:
    if "layer1.0.conv1.weight" in state or "fc.weight" in state:
        return "torchvision"
    if "stem.conv1.weight" in state:
        return "resnet_det"
    return "caffe2" if _looks_caffe2(state) else None

def strip_prefix(obj: Any, prefix: str) -> dict[str, Any]:
    """The tensors of a checkpoint whose names start with ``prefix``, without it (the rest, such as
    a MoCo queue or a detection head, is left out)."""
    state = _unwrap(obj) if isinstance(obj, Mapping) else {}
    inner = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    if not inner:
        raise WeightsFileError(f"no key starts with {prefix!r} (first few: {sorted(state)[:5]})")
    return inner

def _looks_caffe2(state: Mapping[str, Any]) -> bool:
    return "conv1_w" in state or any(k.startswith("res2_0_branch") for k in state)

def _unwrap(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The state dict inside common wrappers (``{"model": ...}``, ``{"state_dict": ...}``, caffe2 blobs)."""
    for key in ("model", "state_dict", "blobs"):
        if isinstance(obj.get(key), Mapping):
            return obj[key]
    return obj
