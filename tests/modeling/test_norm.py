import pytest
import torch
from torch import nn

from resnet_det.modeling.blocks import ConvNorm
from resnet_det.modeling.norm import FrozenBatchNorm2d, calibrate_frozen_norms


def _folding_stack() -> nn.Module:
    return nn.Sequential(ConvNorm(3, 8, 3, norm="FrozenBN"), nn.ReLU(), ConvNorm(8, 8, 3, norm="FrozenBN"))


def _called_stack() -> nn.Module:  # a norm run as its own module, as detectron2's convs do
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), FrozenBatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), FrozenBatchNorm2d(8))


@pytest.mark.parametrize("build", [_folding_stack, _called_stack], ids=["folded", "called"])
def test_calibrated_frozen_norms_normalise_their_inputs(build):
    torch.manual_seed(0)
    model = build()
    x = torch.randn(4, 3, 16, 16) * 5 + 3
    calibrate_frozen_norms(model, lambda: model(x))
    with torch.no_grad():
        y = model(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(8), atol=1e-4)
    assert torch.allclose(y.var(dim=(0, 2, 3)), torch.ones(8), atol=0.05)  # within the 1e-3 added to each variance
