"""Model names -> builders: ``build_model("resnet50", norm="GN")``."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from resnet_det.config import CfgNode, ConfigValueError, check_choice
from resnet_det.modeling.blocks import SHORTCUT_OPTIONS
from resnet_det.modeling.cifar import CifarResNet
from resnet_det.modeling.norm import NORMS
from resnet_det.modeling.resnet import ResNet
from resnet_det.paper import CIFAR_DEPTHS, CIFAR_PLAIN_DEPTHS, IMAGENET_LAYOUTS, IMAGENET_PLAIN_DEPTHS
from resnet_det.weights.styles import WEIGHT_STYLES, get_weight_style

MODEL_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, builder: Callable[..., nn.Module]) -> None:
    """Make ``builder`` available to :func:`build_model` as ``name``."""
    if name in MODEL_REGISTRY:
        raise KeyError(f"model {name!r} is already registered")
    MODEL_REGISTRY[name] = builder


def list_models() -> list[str]:
    """All registered model names, by family and then by depth (``resnet18`` before ``resnet101``)."""
    def key(name: str) -> tuple[str, int]:
        family = name.rstrip("0123456789")
        return family, int(name[len(family):] or 0)
    return sorted(MODEL_REGISTRY, key=key)


def build_model(name: str, **overrides) -> nn.Module:
    """Build the registered model ``name``; keyword ``overrides`` go to its constructor."""
    try:
        builder = MODEL_REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}") from None
    return builder(**overrides)


def check_resnet_options(cfg: CfgNode) -> None:
    """Refuse (:class:`ConfigValueError`, key named) a ``MODEL.RESNETS`` option or weight style that
    no ResNet of this package has, before anything is built."""
    check_choice("MODEL.RESNETS.NORM", cfg.MODEL.RESNETS.NORM, NORMS)
    check_choice("MODEL.RESNETS.SHORTCUT", cfg.MODEL.RESNETS.SHORTCUT, ("", *SHORTCUT_OPTIONS))
    check_choice("MODEL.RESNETS.RES5_DILATION", cfg.MODEL.RESNETS.RES5_DILATION, (1, 2))
    check_choice("MODEL.WEIGHT_STYLE", cfg.MODEL.WEIGHT_STYLE, WEIGHT_STYLES)


def build_classifier(cfg: CfgNode) -> nn.Module:
    """The registered model ``MODEL.ARCH`` with ``MODEL.NUM_CLASSES`` outputs and the ``MODEL.RESNETS``
    options; ImageNet ResNets put the bottleneck stride where ``MODEL.WEIGHT_STYLE`` says."""
    check_resnet_options(cfg)
    check_choice("MODEL.ARCH", cfg.MODEL.ARCH, list_models())
    kwargs: dict[str, Any] = {"num_classes": cfg.MODEL.NUM_CLASSES, "norm": cfg.MODEL.RESNETS.NORM,
                              "zero_init_last": cfg.MODEL.RESNETS.ZERO_INIT_LAST}
    if cfg.MODEL.RESNETS.SHORTCUT:
        kwargs["shortcut"] = cfg.MODEL.RESNETS.SHORTCUT
    if not cfg.MODEL.ARCH.startswith("cifar_"):
        kwargs["stride_in_1x1"] = get_weight_style(cfg.MODEL.WEIGHT_STYLE).stride_in_1x1
    if cfg.INPUT.NORMALIZE == "per_pixel_mean":
        if not cfg.MODEL.ARCH.startswith("cifar_"):
            raise ConfigValueError(f"INPUT.NORMALIZE per_pixel_mean is for the CIFAR nets, not {cfg.MODEL.ARCH}")
        kwargs["mean_image_size"] = cfg.INPUT.CROP_SIZE
    return build_model(cfg.MODEL.ARCH, **kwargs)


# The paper's networks: its Tables 1 and 2 (ImageNet) and Table 6 and Fig. 6 (CIFAR-10).
for _depth in IMAGENET_LAYOUTS:
    register_model(f"resnet{_depth}", partial(ResNet, _depth))
for _depth in IMAGENET_PLAIN_DEPTHS:
    register_model(f"plain{_depth}", partial(ResNet, _depth, residual=False))
for _depth in CIFAR_DEPTHS:
    register_model(f"cifar_resnet{_depth}", partial(CifarResNet, _depth))
for _depth in CIFAR_PLAIN_DEPTHS:
    register_model(f"cifar_plain{_depth}", partial(CifarResNet, _depth, residual=False))
