"""Normalisation layers selected by name, and frozen batch norm."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("BN", "FrozenBN", "SyncBN", "GN", "")
T = TypeVar("T")


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine parameters.

    Parameter and buffer names match ``nn.BatchNorm2d`` (and detectron2), so checkpoints load
    either way. A checkpoint that has no running statistics (MSRA/caffe2 weights store the folded
    affine only) keeps the defaults ``mean = 0, var = 1 - eps``, which make ``scale == weight``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel ``(scale, shift)`` equivalent to this layer; used to fold it into a conv."""
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        return scale, self.bias - self.running_mean * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.requires_grad and x.dtype == self.weight.dtype:
            # Inference: one fused op, rounding as detectron2's frozen BN does. With autograd,
            # batch_norm's backward would also compute unused gradients of the frozen affine.
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        scale, shift = self.scale_shift()
        return x * scale.view(1, -1, 1, 1).to(x.dtype) + shift.view(1, -1, 1, 1).to(x.dtype)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # BatchNorm2d checkpoints carry a step counter that a frozen layer has no use for.
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"

    @classmethod
    def convert_frozen_batchnorm(cls, module: nn.Module) -> nn.Module:
        """Return ``module`` with every BatchNorm/SyncBatchNorm replaced by a frozen copy."""
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            frozen = cls(module.num_features, module.eps)
            if module.affine:
                frozen.weight.copy_(module.weight.detach())
                frozen.bias.copy_(module.bias.detach())
            if module.track_running_stats:
                frozen.running_mean.copy_(module.running_mean)
                frozen.running_var.copy_(module.running_var)
            return frozen
        for name, child in module.named_children():
            new_child = cls.convert_frozen_batchnorm(child)
            if new_child is not child:
                module.add_module(name, new_child)
        return module


def get_norm(norm: str, channels: int) -> nn.Module:
    """Build the normalisation layer called ``norm`` for ``channels`` channels.

    ``"GN"`` uses 32 groups, as detectron2 and the GN paper do; ``""`` means no normalisation.
    """
    if norm == "BN":
        return nn.BatchNorm2d(channels)
    if norm == "FrozenBN":
        return FrozenBatchNorm2d(channels)
    if norm == "SyncBN":
        return nn.SyncBatchNorm(channels)
    if norm == "GN":
        return nn.GroupNorm(min(32, channels), channels)
    if norm == "":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")


@torch.no_grad()
def calibrate_frozen_norms(model: nn.Module, run: Callable[[], T],
                           set_affine: Callable[[nn.Module], None] | None = None) -> T:
    """``run()``, during which every frozen batch norm (ours or detectron2's, by class name) takes
    the per-channel mean and variance of its input as its statistics, then ``set_affine`` on it.

    A randomly initialised frozen norm is an identity, so activations grow stage by stage; once
    calibrated, a random network keeps them normalised, as a pretrained one does. Our convolutions
    fold their frozen norm and never call it, so those get their statistics from the convolution's
    unfolded output, computed again before it runs.
    """
    def set_stats(norm: nn.Module, inputs: tuple[torch.Tensor]) -> None:
        x = inputs[0].float().transpose(0, 1).flatten(1)
        norm.running_mean.copy_(x.mean(1))
        norm.running_var.copy_(x.var(1) + 1e-3)
        if set_affine is not None:
            set_affine(norm)

    def set_folded_stats(conv: nn.Conv2d, inputs: tuple[torch.Tensor]) -> None:
        set_stats(conv.norm, (conv._conv_forward(inputs[0], conv.weight, None),))
    hooks = [m.register_forward_pre_hook(set_stats) for m in model.modules()
             if type(m).__name__ == "FrozenBatchNorm2d"]
    hooks += [m.register_forward_pre_hook(set_folded_stats) for m in model.modules()
              if isinstance(m, nn.Conv2d) and isinstance(getattr(m, "norm", None), FrozenBatchNorm2d)]
    try:
        return run()
    finally:
        for h in hooks:
            h.remove()
