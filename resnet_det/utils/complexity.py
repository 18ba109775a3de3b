"""Parameter and multiply-add counts, in the paper's convention (Table 1)."""
from __future__ import annotations

import warnings

import torch
from torch import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # fvcore decorates helpers with torch.jit.script
    from fvcore.nn import FlopCountAnalysis

# The paper counts multiply-adds of the weighted layers only; fvcore also counts normalisation
# and pooling, which would inflate ResNet-50 by about 1%.
_WEIGHTED_OPS = ("conv", "linear")


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters (frozen ones included, buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_multiply_adds(model: nn.Module, input_size: tuple[int, int], channels: int = 3) -> int:
    """Multiply-adds of convolutions and fully-connected layers for one ``input_size`` image."""
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, torch.zeros(1, channels, *input_size))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        by_op = analysis.by_operator()
    finally:
        model.train(was_training)
    return sum(by_op.get(op, 0) for op in _WEIGHTED_OPS)
