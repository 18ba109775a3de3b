import pytest
import torch

from resnet_det import build_model
from resnet_det.modeling.cifar import CifarResNet
from resnet_det.paper import CIFAR_MPARAMS
from resnet_det.utils.complexity import count_parameters


@pytest.mark.parametrize("depth", CIFAR_MPARAMS)
def test_parameter_counts_match_table6(depth):
    params = count_parameters(build_model(f"cifar_resnet{depth}")) / 1e6
    assert params == pytest.approx(CIFAR_MPARAMS[depth], rel=0.05)


@pytest.mark.parametrize("depth", [20, 56])
def test_layers_and_outputs(depth):
    model = build_model(f"cifar_resnet{depth}", out_features=["res2", "res3", "res4", "linear"]).eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) + 1 == depth  # 6n+2 weighted layers: 6n+1 convs and the classifier
    out = model(torch.randn(2, 3, 32, 32))
    assert [out[s].shape[1:] for s in ("res2", "res3", "res4")] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert out["linear"].shape == (2, 10)


def test_plain_net_has_same_layers_but_no_shortcuts():
    plain, res = build_model("cifar_plain20"), build_model("cifar_resnet20")
    assert count_parameters(plain) == count_parameters(res)
    assert all(not b.residual for s in ("res2", "res3", "res4") for b in getattr(plain, s))
    # The same weights compute different functions once shortcuts are removed.
    plain.load_state_dict(res.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(plain.eval()(x), res.eval()(x))


def test_option_b_adds_projections():
    assert count_parameters(CifarResNet(20, shortcut="B")) > count_parameters(CifarResNet(20, shortcut="A"))


@pytest.mark.parametrize("depth", [19, 2])
def test_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ValueError, match="6n\\+2"):
        CifarResNet(depth)


def test_per_pixel_mean_is_subtracted_by_the_stem():
    torch.manual_seed(0)
    with_mean = CifarResNet(20, mean_image_size=32).eval()
    plain = CifarResNet(20).eval()
    plain.load_state_dict({k: v for k, v in with_mean.state_dict().items() if k != "stem.pixel_mean"})
    mean = torch.rand(3, 32, 32) * 255
    with_mean.stem.pixel_mean.copy_(mean)
    x = torch.rand(2, 3, 32, 32) * 255
    with torch.no_grad():
        torch.testing.assert_close(with_mean(x), plain(x - mean))
    assert "stem.pixel_mean" in with_mean.state_dict()  # checkpoints carry it
    with pytest.raises(ValueError, match="per-pixel mean"):
        with_mean(torch.rand(1, 3, 24, 24))
