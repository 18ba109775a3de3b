"""Parameter names: torchvision's and MSRA/caffe2's mapped to resnet_det's (detectron2's) and back,
and the architecture a state dict's layout names (from the paper's tables)."""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import torch

from resnet_det.paper import CIFAR_DEPTHS, IMAGENET_LAYOUTS
from resnet_det.weights.formats import WeightsFileError, _to_tensor

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

def _layout(state_dict: Mapping[str, Any]) -> tuple[tuple[int, ...], bool] | None:
    """``(blocks in res2, res3, ..., bottleneck blocks)`` of a ResNet state dict, or None."""
    blocks: dict[int, set[int]] = {}
    for key in state_dict:
        if m := re.match(r"res(\d)\.(\d+)\.", key):
            blocks.setdefault(int(m[1]), set()).add(int(m[2]))
    if sorted(blocks) != list(range(2, 2 + len(blocks))):
        return None
    return tuple(len(blocks[s]) for s in sorted(blocks)), any(".conv3." in k for k in state_dict)


def infer_arch(state_dict: Mapping[str, Any]) -> str | None:
    """The model whose layout (Table 1 or Table 6 of the paper) ``state_dict`` has, if any: ``resnet50``,
    ``cifar_resnet56``, ... (plain nets share their residual twin's layout and name)."""
    layouts: dict[tuple[tuple[int, ...], bool], str] = {
        (counts, bottleneck): f"resnet{depth}" for depth, (counts, bottleneck) in IMAGENET_LAYOUTS.items()}
    layouts.update({(((depth - 2) // 6,) * 3, False): f"cifar_resnet{depth}" for depth in CIFAR_DEPTHS})
    layout = _layout(state_dict)
    return layouts.get(layout) if layout else None
