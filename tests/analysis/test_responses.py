import torch

from resnet_det.analysis.responses import plot_fig7, response_stds
from resnet_det.modeling.cifar import CifarResNet


def test_stds_are_per_layer_and_independent_of_batching(tmp_path, randomise_norms):
    model = randomise_norms(CifarResNet(8))  # 7 3x3 layers: the stem and two per stage
    x = torch.randn(7, 3, 16, 16)
    stds = response_stds(model, x, batch_size=3)
    assert len(stds) == 7
    assert all(abs(a - b) < 1e-6 * a for a, b in zip(stds, response_stds(model, x, batch_size=7)))
    with torch.no_grad():
        stem = model.eval().stem.conv1(x)  # normalised, before the ReLU
    direct = stem.transpose(0, 1).flatten(1).double().std(dim=1, unbiased=False).mean().item()
    assert abs(stds[0] - direct) < 1e-6
    assert plot_fig7({"ResNet-8": stds, "plain-8": stds}, tmp_path / "f.png").stat().st_size > 0
