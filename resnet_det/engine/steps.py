"""A training step as its own object, as detectron2 splits ``SimpleTrainer`` from ``AMPTrainer``:
:class:`SGDStep` is the update (a batch's loss terms, their backward pass, gradient clipping, the
optimizer's step), and :class:`~resnet_det.engine.cuda_graph.GraphedStep` replays one as a CUDA
graph. Autocast is the model's own (its forward decides what runs in bf16), so every step takes it.
A trainer composes the step it needs; a user adds another (a second optimizer, a gradient scaler)
without touching the loop.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from resnet_det.config import CfgNode
from resnet_det.engine.train_loop import StepOutput

Clipper = Callable[[], None]


def gradient_clipper(cfg: CfgNode, params: Iterable[torch.nn.Parameter]) -> Clipper | None:
    """``SOLVER.CLIP_GRADIENTS`` as a function that clips the gradients of ``params`` in place: by
    their global L2 norm (``norm``) or element-wise (``value``), at ``CLIP_VALUE``; None when off."""
    clip = cfg.SOLVER.CLIP_GRADIENTS
    if not clip.ENABLED:
        return None
    params = list(params)

    def clip_gradients() -> None:
        grads = [p for p in params if p.grad is not None]
        if clip.CLIP_TYPE == "norm":
            torch.nn.utils.clip_grad_norm_(grads, clip.CLIP_VALUE)
        else:
            torch.nn.utils.clip_grad_value_(grads, clip.CLIP_VALUE)
    return clip_gradients


class SGDStep:
    """``step(batch)``: ``losses(batch)``, the backward pass of their sum, ``clip()`` if given, then
    ``optimizer.step()``; returns the :class:`StepOutput`."""

    def __init__(self, losses: Callable[[Any], StepOutput], optimizer: torch.optim.Optimizer,
                 clip: Clipper | None = None) -> None:
        self.losses, self.optimizer, self.clip = losses, optimizer, clip

    def __call__(self, batch: Any) -> StepOutput:
        out = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if self.clip is not None:
            self.clip()
        self.optimizer.step()
        return out
