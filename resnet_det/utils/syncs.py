"""Count the operations that make the host wait for the device."""
from __future__ import annotations

from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# Ops whose result shape or value the host must read before it can go on: on CUDA each one waits
# for every queued kernel to finish, and the GPU idles while the host launches the next ones.
_ALWAYS = {
    aten.nonzero.default, aten.masked_select.default, aten._local_scalar_dense.default,
    aten.equal.default, aten._unique2.default, aten.unique_dim.default, aten.unique_consecutive.default,
}


def _reads_device(func, args, kwargs) -> bool:
    if func in _ALWAYS:
        return True
    if func in (aten.index.Tensor, aten.index_put.default, aten.index_put_.default):
        # Boolean masks become indices through a hidden nonzero.
        return any(i is not None and i.dtype in (torch.bool, torch.uint8) for i in args[1])
    if func is aten.repeat_interleave.Tensor:
        return kwargs.get("output_size") is None
    return getattr(func, "namespace", "") == "torchvision" and func.__name__.startswith("nms")


class HostSyncCounter(TorchDispatchMode):
    """Within ``with HostSyncCounter() as c:``, ``c.total`` counts the device-to-host reads that the
    operations run would need on a GPU (nonzero, boolean indexing, ``.item()``, NMS, ...) and
    ``c.by_op`` names them. It counts on any device, so a CPU run says how a GPU run would stall.
    Not counted: copies to the GPU from pageable host memory, which wait too (the data loaders pin
    theirs, and boxes are scaled by Python scalars, to avoid them)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_op: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.by_op.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _reads_device(func, args, kwargs):
            self.by_op[str(func.overloadpacket.__name__)] += 1
        return func(*args, **kwargs)
