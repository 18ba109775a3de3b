import torch
from torchvision.ops import nms

from resnet_det.utils.syncs import HostSyncCounter


def test_counts_the_ops_that_read_the_device():
    x = torch.randn(100)
    mask = x > 0
    with HostSyncCounter() as c:
        mask.nonzero()
        x[mask]                      # boolean indexing
        x.sum().item()
        bool(mask.any())             # also a scalar read
        nms(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([1.0]), 0.5)
    assert c.by_op == {"nonzero": 1, "index": 1, "_local_scalar_dense": 2, "nms": 1}, c.by_op


def test_masked_arithmetic_is_not_counted():
    x = torch.randn(100)
    mask = x > 0
    with HostSyncCounter() as c:
        torch.where(mask, x, 0.0).sum()
        x[torch.arange(10)]          # integer indexing knows its output size
        x.topk(5)
        x.repeat_interleave(torch.full((100,), 2), output_size=200)
    assert c.total == 0, c.by_op
