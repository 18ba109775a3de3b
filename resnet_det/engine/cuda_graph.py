"""A whole training step (forward, backward, optimizer) replayed as one CUDA graph (SOLVER.CUDA_GRAPH).

The forward and backward of a CIFAR ResNet dispatch hundreds of operators (BENCHMARKS.md counts
them), each a small kernel that costs the host microseconds to launch, so eagerly the GPU waits on
Python. A graph replay launches them all at once. The step has to be capturable: every batch
the same shape, no host read of a device value (``.item()``, ``nonzero``), and an optimizer whose
hyperparameters live on the device, which is why the trainer switches SGD to its fused kernel
with a tensor learning rate.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_leaves, tree_map

from resnet_det.config import CfgNode, ConfigValueError
from resnet_det.utils.distributed import get_world_size


def check_graphable(cfg: CfgNode, device: torch.device, static_steps: bool, trainer: str) -> None:
    """Refuse ``SOLVER.CUDA_GRAPH`` (naming every reason) where a step cannot be captured: steps of
    changing shapes (``static_steps`` False, or progressive resizing), no CUDA device, several
    processes, or a compile mode that captures graphs itself."""
    reasons = [why for broken, why in [
        (not static_steps, f"{trainer}'s steps change shape from batch to batch"),
        (cfg.INPUT.PROGRESSIVE_RESIZE.ENABLED, "INPUT.PROGRESSIVE_RESIZE changes the input size between epochs"),
        (device.type != "cuda", f"it needs a CUDA device, not {device}"),
        (get_world_size() > 1, "it runs in one process only (no DDP)"),
        (cfg.MODEL.COMPILE.ENABLED and cfg.MODEL.COMPILE.MODE == "reduce-overhead",
         "MODEL.COMPILE.MODE reduce-overhead captures graphs of its own; use default or max-autotune"),
    ] if broken]
    if reasons:
        raise ConfigValueError(f"SOLVER.CUDA_GRAPH cannot be used here: {'; '.join(reasons)}")


def move_lr_to_device(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Hold each group's learning rate in a device tensor, which the scheduler then updates in place
    and a captured fused SGD step reads at every replay (a float would be frozen into the graph)."""
    for group in optimizer.param_groups:
        group["lr"] = torch.tensor(float(group["lr"]), device=device)


class GraphedStep:
    """``step(batch)`` run eagerly for the first ``warmup`` batches, then captured once and replayed.

    Warm-up steps are real training steps; they run on a side stream, as capture requires, and let
    cuDNN pick its algorithms and the optimizer create its momentum buffers before capture. The
    capture records without running, so the batch it was recorded on is then replayed: every
    batch is trained on exactly once. Later batches are copied into the captured input tensors;
    the returned outputs are the captured ones, overwritten by the next call.
    """

    def __init__(self, step: Callable[[Any], Any], warmup: int = 3) -> None:
        self.step, self.warmup = step, warmup
        self.side: torch.cuda.Stream | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: Any = None
        self.outputs: Any = None

    def __call__(self, batch: Any) -> Any:
        if self.graph is None and self.warmup > 0:
            self.warmup -= 1
            self.side = self.side or torch.cuda.Stream()
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                outputs = self.step(batch)
            torch.cuda.current_stream().wait_stream(self.side)
            return outputs
        if self.graph is None:
            self.inputs = tree_map(torch.clone, batch)
            self.graph = torch.cuda.CUDAGraph()
            # Thread-local: a DataLoader's pin-memory thread may call CUDA while this thread captures.
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self.outputs = self.step(self.inputs)
        else:
            for static, new in zip(tree_leaves(self.inputs), tree_leaves(batch), strict=True):
                static.copy_(new, non_blocking=True)
        self.graph.replay()
        return self.outputs
