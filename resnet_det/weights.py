"""Weight styles, and conversion between torchvision, resnet_det, detectron2 and MSRA checkpoints.

Every reader returns our (detectron2) parameter names; every writer is atomic. Nothing here
executes code from a file: torch checkpoints load with ``weights_only=True`` and ``.pkl`` files
through :mod:`resnet_det.utils.safe_pickle`.
"""
from __future__ import annotations

import functools
import logging
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from resnet_det.errors import UserError
from resnet_det.utils.atomic import atomic_torch_save, atomic_write
from resnet_det.utils.download import fetch
from resnet_det.utils.safe_pickle import UnsafePickleError, safe_pickle_load

logger = logging.getLogger(__name__)
FORMATS = ("resnet_det", "torchvision", "detectron2", "caffe2")
WRITABLE_FORMATS = ("resnet_det", "torchvision", "detectron2")


@dataclass(frozen=True)
class WeightStyle:
    """How a set of weights expects its input, and where its bottlenecks put the stride.

    ``pixel_mean``/``pixel_std`` are in ``channel_order`` on the 0-255 scale:
    ``input = (pixels - pixel_mean) / pixel_std``.
    """

    name: str
    channel_order: str
    pixel_mean: tuple[float, float, float]
    pixel_std: tuple[float, float, float]
    stride_in_1x1: bool


WEIGHT_STYLES: dict[str, WeightStyle] = {
    "caffe": WeightStyle("caffe", "BGR", (103.530, 116.280, 123.675), (1.0, 1.0, 1.0), True),
    "torchvision": WeightStyle("torchvision", "RGB", (123.675, 116.280, 103.530),
                               (58.395, 57.120, 57.375), False),
}


def get_weight_style(name: str) -> WeightStyle:
    """The :class:`WeightStyle` called ``name`` (``"caffe"`` or ``"torchvision"``)."""
    try:
        return WEIGHT_STYLES[name]
    except KeyError:
        raise ValueError(f"unknown weight style {name!r}; expected one of {sorted(WEIGHT_STYLES)}") from None


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


# ---- parameter names -------------------------------------------------------------------------

# (torchvision, ours) name prefixes; {L} is torchvision's layer index, {S} = L + 1 our stage.
_NAME_PAIRS = [
    ("conv1.", "stem.conv1."),
    ("bn1.", "stem.conv1.norm."),
    ("layer{L}.{B}.conv{C}.", "res{S}.{B}.conv{C}."),
    ("layer{L}.{B}.bn{C}.", "res{S}.{B}.conv{C}.norm."),
    ("layer{L}.{B}.downsample.0.", "res{S}.{B}.shortcut."),
    ("layer{L}.{B}.downsample.1.", "res{S}.{B}.shortcut.norm."),
    ("fc.", "linear."),
]
_C2_PARAM = {"w": "weight", "b": "bias", "s": "weight", "rm": "running_mean", "riv": "running_var"}
_C2_CONV = {"a": "conv1", "b": "conv2", "c": "conv3"}


@functools.cache
def _prefix_regex(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for name in "LSBC":
        pattern = pattern.replace(re.escape(f"{{{name}}}"), f"(?P<{name}>\\d+)")
    return re.compile(pattern)


def _rename(name: str, to_ours: bool) -> str:
    """Translate one parameter name between torchvision and ours, by its longest matching prefix."""
    best = None
    for tv, ours in _NAME_PAIRS:
        source, target = (tv, ours) if to_ours else (ours, tv)
        m = _prefix_regex(source).match(name)
        if m and (best is None or m.end() > best[0].end()):
            best = (m, target)
    if best is None:
        raise WeightsFileError(f"unexpected {'torchvision' if to_ours else 'resnet_det'} parameter name {name!r}")
    m, target = best
    fields = m.groupdict()
    if "L" in fields:
        fields["S"] = str(int(fields["L"]) + 1)
    elif "S" in fields:
        fields["L"] = str(int(fields["S"]) - 1)
    return target.format(**fields) + name[m.end():]


def _caffe2_name_to_ours(name: str) -> str:
    """MSRA/caffe2 blob names (``res2_0_branch2a_bn_s``) to ours (``res2.0.conv1.norm.weight``)."""
    if m := re.fullmatch(r"conv1_(w|b)", name):
        return f"stem.conv1.{_C2_PARAM[m[1]]}"
    if m := re.fullmatch(r"res_conv1_bn_(s|b|rm|riv)", name):
        return f"stem.conv1.norm.{_C2_PARAM[m[1]]}"
    if m := re.fullmatch(r"fc1000_(w|b)", name):
        return f"linear.{_C2_PARAM[m[1]]}"
    if m := re.fullmatch(r"res(\d)_(\d+)_branch(1|2[abc])(_bn)?_(w|b|s|rm|riv)", name):
        conv = "shortcut" if m[3] == "1" else _C2_CONV[m[3][1]]
        norm = ".norm" if m[4] else ""
        return f"res{m[1]}.{m[2]}.{conv}{norm}.{_C2_PARAM[m[5]]}"
    raise WeightsFileError(f"unexpected MSRA/caffe2 blob name {name!r}")


def torchvision_to_resnet_det(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a torchvision ResNet state dict to resnet_det/detectron2 names."""
    return {_rename(k, to_ours=True): v for k, v in state_dict.items()}


def resnet_det_to_torchvision(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a resnet_det state dict to torchvision's ``resnetNN()`` names."""
    return {_rename(k, to_ours=False): v for k, v in state_dict.items()}


def caffe2_to_resnet_det(blobs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Convert MSRA/caffe2 blobs; their batch norms are folded affines, given neutral statistics."""
    out = {_caffe2_name_to_ours(k): _to_tensor(v) for k, v in blobs.items()
           if not k.endswith("_momentum")}
    for key in [k for k in out if k.endswith(".norm.weight")]:
        prefix = key[: -len("weight")]
        n = out[key].numel()
        # mean 0 and var 1 - eps make any batch norm (eps 1e-5) compute exactly weight * x + bias.
        out.setdefault(prefix + "running_mean", torch.zeros(n))
        out.setdefault(prefix + "running_var", torch.ones(n) - 1e-5)
    return out


def _to_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        # A copy: pickled arrays may be read-only or strided, and 0-d arrays must stay 0-d.
        return torch.from_numpy(np.array(value, order="C", copy=True))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.as_tensor(value)
    raise WeightsFileError(f"holds a {type(value).__name__} where a tensor belongs")


# ---- reading -------------------------------------------------------------------------------

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


def check_finite(state: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`WeightsFileError` naming the first tensor that holds a NaN or an infinity (weights
    saved from a diverged run, which would load and then detect or classify nothing)."""
    for key, value in state.items():
        if value.is_floating_point() and not bool(value.isfinite().all()):
            raise WeightsFileError(f"tensor {key} holds NaN or infinite values (saved from a diverged run?); "
                                   "use a checkpoint from before the divergence")


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


# (blocks per stage, bottleneck blocks) -> model name. The model registry fills it as it registers
# its models (it is imported with the package), so the depth table keeps its one home there.
_LAYOUTS: dict[tuple[tuple[int, ...], bool], str] = {}


def register_layout(blocks_per_stage: tuple[int, ...], bottleneck: bool, name: str) -> None:
    """Let :func:`infer_arch` name a state dict with this many blocks in res2, res3, ..."""
    _LAYOUTS.setdefault((tuple(blocks_per_stage), bottleneck), name)


def infer_arch(state_dict: Mapping[str, Any]) -> str | None:
    """The registered model name whose layout matches ``state_dict``, if any."""
    blocks: dict[int, set[int]] = {}
    for key in state_dict:
        if m := re.match(r"res(\d)\.(\d+)\.", key):
            blocks.setdefault(int(m[1]), set()).add(int(m[2]))
    counts = tuple(len(blocks[s]) for s in sorted(blocks))
    if sorted(blocks) != list(range(2, 2 + len(counts))):
        return None
    return _LAYOUTS.get((counts, any(".conv3." in k for k in state_dict)))


# ---- writing -------------------------------------------------------------------------------

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


# ---- loading into a model ------------------------------------------------------------------

_SHOWN = 5  # keys named per kind of misfit


@dataclass
class LoadReport:
    """What did not fit when a state dict was loaded into a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        """One line: each kind of misfit with its count and first few keys."""
        def few(items: list[str]) -> str:
            return ", ".join(items[:_SHOWN]) + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
        parts = []
        if self.missing:
            parts.append(f"missing in checkpoint ({len(self.missing)}): {few(self.missing)}")
        if self.unexpected:
            parts.append(f"not in model ({len(self.unexpected)}): {few(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{key}: model {want}, checkpoint {got}" for key, want, got in self.mismatched]
            parts.append(f"shape mismatch ({len(shapes)}): {few(shapes)}")
        return "; ".join(parts) or "all keys matched"


class WeightsMismatchError(UserError, ValueError):
    """The checkpoint does not fit the model; ``report`` says how."""

    def __init__(self, report: LoadReport, source: str = "checkpoint") -> None:
        super().__init__(f"{source} does not fit the model: {report}")
        self.report = report


def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *,
                            strict: bool = True, source: str = "checkpoint") -> LoadReport:
    """Load what fits; with ``strict`` raise :class:`WeightsMismatchError` unless everything fits.

    Unlike ``nn.Module.load_state_dict``, shape mismatches are reported alongside missing and
    unexpected keys instead of failing one at a time.
    """
    own = model.state_dict()
    report = LoadReport(
        missing=sorted(k for k in own if k not in state_dict and not k.endswith("num_batches_tracked")),
        # A step counter of a BatchNorm means nothing to a frozen or folded layer.
        unexpected=sorted(k for k in state_dict if k not in own and not k.endswith("num_batches_tracked")),
        mismatched=[(k, tuple(own[k].shape), tuple(v.shape)) for k, v in state_dict.items()
                    if k in own and own[k].shape != v.shape],
    )
    if strict and not report.ok:
        raise WeightsMismatchError(report, source)
    bad = {k for k, _, _ in report.mismatched}
    fitting = {k: v for k, v in state_dict.items() if k in own and k not in bad}
    model.load_state_dict(fitting, strict=False)
    return report


def apply_weights(model: nn.Module, weights: Weights, state: Mapping[str, torch.Tensor], source: str, *,
                  model_style: str, class_predictors: tuple[str, ...], strict: bool = False,
                  missing_ok: bool = False) -> LoadReport:
    """The one rule by which classifiers and detectors take a checkpoint's ``state`` (``weights``'s,
    renamed for ``model``): weights of another style than ``model_style`` are refused; the
    ``class_predictors`` of a checkpoint trained on another number of classes are skipped, each
    logged (fine-tuning), unless ``strict``; anything else that does not fit is refused, missing
    keys too unless ``missing_ok`` (a backbone into a detector, whose heads start fresh)."""
    if weights.weight_style and weights.weight_style != model_style:
        raise WeightsMismatchError(LoadReport(), f"{source} holds {weights.weight_style}-style weights but the model "
                                   f"is configured for {model_style} (set MODEL.WEIGHT_STYLE)")
    own = model.state_dict()
    skipped = [k for k, v in state.items() if not strict and k.startswith(class_predictors)
               and k in own and own[k].shape != v.shape]
    for key in skipped:
        logger.warning("%s: skipping %s (checkpoint %s, model %s): other classes", source, key,
                       tuple(state[key].shape), tuple(own[key].shape))
    report = load_state_dict_checked(model, {k: v for k, v in state.items() if k not in skipped}, strict=False,
                                     source=source)
    missing = [k for k in report.missing if k not in skipped and not missing_ok]
    if report.unexpected or report.mismatched or missing:
        raise WeightsMismatchError(report, source)
    return report
