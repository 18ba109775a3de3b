import torch

from resnet_det import build_model
from resnet_det.modeling.fold import fold_frozen_batchnorm
from resnet_det.modeling.norm import FrozenBatchNorm2d


def test_folding_keeps_the_function():
    model = build_model("resnet50", norm="FrozenBN", num_classes=0, out_features=["res4"]).eval()
    for m in model.modules():
        if isinstance(m, FrozenBatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.2, 0.5)  # keeps activations moderate through 13 blocks
            m.bias.uniform_(-0.1, 0.1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)["res4"]
        after = fold_frozen_batchnorm(model)(x)["res4"]
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-4 * before.abs().max().item())


def test_trainable_norms_are_left_alone():
    model = build_model("resnet18", norm="BN")
    fold_frozen_batchnorm(model)
    assert isinstance(model.res2[0].conv1.norm, torch.nn.BatchNorm2d)
