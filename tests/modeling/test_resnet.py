import pytest
import torch
import torchvision

from resnet_det import build_model
from resnet_det.modeling.blocks import ZeroPadShortcut
from resnet_det.modeling.norm import FrozenBatchNorm2d
from resnet_det.modeling.resnet import ResNet
from resnet_det.paper import IMAGENET_GMACS
from resnet_det.utils.complexity import count_multiply_adds, count_parameters
from resnet_det.weights import load_state_dict_checked, resnet_det_to_torchvision, torchvision_to_resnet_det

DEPTHS = [18, 34, 50, 101, 152]
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}


@pytest.mark.parametrize("depth", DEPTHS)
def test_matches_torchvision(depth, randomise_norms):
    tv = getattr(torchvision.models, f"resnet{depth}")().eval()
    randomise_norms(tv)
    ours = build_model(f"resnet{depth}").eval()
    load_state_dict_checked(ours, torchvision_to_resnet_det(tv.state_dict()))
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        diff = (tv(x) - ours(x)).abs().max().item()
    assert diff <= 1e-4
    back = resnet_det_to_torchvision(ours.state_dict())
    assert back.keys() == tv.state_dict().keys()
    assert all(torch.equal(back[k], v) for k, v in tv.state_dict().items())


@pytest.mark.parametrize("depth", DEPTHS)
def test_parameter_count_equals_torchvision(depth):
    assert count_parameters(build_model(f"resnet{depth}")) == TORCHVISION_PARAMS[depth]


@pytest.mark.parametrize("depth", DEPTHS)
def test_multiply_adds_match_table1(depth):
    # The paper's models (MSRA) put the stride in the 1x1; that is what Table 1 counts.
    macs = count_multiply_adds(build_model(f"resnet{depth}", stride_in_1x1=True), (224, 224)) / 1e9
    assert macs == pytest.approx(IMAGENET_GMACS[depth], rel=0.03)


def test_stride_placement_moves_compute_but_not_parameters():
    in_1x1 = build_model("resnet50", stride_in_1x1=True)
    in_3x3 = build_model("resnet50", stride_in_1x1=False)
    assert count_parameters(in_1x1) == count_parameters(in_3x3)
    assert in_1x1.res3[0].conv1.stride == (2, 2) and in_1x1.res3[0].conv2.stride == (1, 1)
    assert in_3x3.res3[0].conv1.stride == (1, 1) and in_3x3.res3[0].conv2.stride == (2, 2)
    assert count_multiply_adds(in_1x1, (224, 224)) < count_multiply_adds(in_3x3, (224, 224))


def test_shortcut_options_follow_the_paper():
    a, b, c = (build_model("resnet34", shortcut=o) for o in "ABC")
    # A: no projection parameters; B: projections only where shapes change (3 of 16 blocks);
    # C: a projection in every block. Table 3's ordering of sizes: A < B < C.
    assert count_parameters(a) < count_parameters(b) < count_parameters(c)
    assert isinstance(a.res3[0].shortcut, ZeroPadShortcut) and a.res3[1].shortcut is None
    assert b.res2[0].shortcut is None and b.res3[1].shortcut is None
    assert isinstance(b.res3[0].shortcut, torch.nn.Conv2d)
    assert all(isinstance(blk.shortcut, torch.nn.Conv2d) for s in ("res2", "res5") for blk in getattr(c, s))
    x = torch.randn(1, 3, 64, 64)
    for model in (a, b, c):
        assert model.eval()(x).shape == (1, 1000)


@pytest.mark.parametrize("depth", [18, 34])
def test_plain_nets_are_the_resnets_without_shortcuts(depth):
    """Table 2 / Fig. 4: the plain nets have the layers, parameters and FLOPs of the option-A ResNets."""
    plain, residual = build_model(f"plain{depth}").eval(), build_model(f"resnet{depth}", shortcut="A").eval()
    blocks = [b for s in plain.stage_names for b in getattr(plain, s)]
    assert all(not b.residual and b.shortcut is None for b in blocks)
    assert plain.state_dict().keys() == residual.state_dict().keys()
    assert count_parameters(plain) == count_parameters(residual)
    assert count_multiply_adds(plain, (224, 224)) == pytest.approx(count_multiply_adds(residual, (224, 224)), rel=1e-3)
    # Same weights, different functions: only the shortcuts tell them apart.
    plain.load_state_dict(residual.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert plain(x).shape == (1, 1000) and not torch.allclose(plain(x), residual(x))


def test_zero_pad_shortcut_subsamples_and_pads():
    x = torch.randn(2, 4, 6, 6)
    y = ZeroPadShortcut(4, 8, 2)(x)
    assert y.shape == (2, 8, 3, 3)
    assert torch.equal(y[:, :4], x[:, :, ::2, ::2]) and not y[:, 4:].any()


def test_out_features_and_feature_info():
    model = build_model("resnet50", out_features=["stem", "res2", "res3", "res4", "res5", "linear"]).eval()
    out = model(torch.randn(1, 3, 128, 128))
    for name, info in model.output_shape().items():
        assert out[name].shape[1] == info.channels
        assert out[name].shape[-1] == 128 // info.stride
    assert out["linear"].shape == (1, 1000)


def test_trunk_stops_at_last_requested_stage():
    trunk = ResNet(50, num_classes=0, out_features=["res4"])
    assert not hasattr(trunk, "res5") and trunk.linear is None
    assert trunk.output_shape()["res4"].stride == 16
    with pytest.raises(ValueError, match="unknown out_features"):
        ResNet(50, out_features=["res6"])


def test_res5_dilation_keeps_stride_16():
    model = ResNet(50, num_classes=0, out_features=["res5"], res5_dilation=2).eval()
    assert model(torch.randn(1, 3, 128, 128))["res5"].shape == (1, 2048, 8, 8)
    assert model.output_shape()["res5"].stride == 16
    assert model.res5[1].conv2.dilation == (2, 2)


@pytest.mark.parametrize("freeze_at", [0, 1, 2, 5])
def test_freeze_at(freeze_at):
    model = build_model("resnet18", freeze_at=freeze_at)
    parts = ["stem", "res2", "res3", "res4", "res5"]
    for i, name in enumerate(parts):
        module = getattr(model, name)
        frozen = i < freeze_at
        assert all(p.requires_grad != frozen for p in module.parameters())
        has_frozen_bn = any(isinstance(m, FrozenBatchNorm2d) for m in module.modules())
        assert has_frozen_bn == frozen


@pytest.mark.parametrize("norm", ["BN", "FrozenBN", "SyncBN", "GN"])
def test_norms_build(norm):
    model = build_model("resnet18", norm=norm).eval()
    assert model.res2[0].conv1.norm.__class__.__name__ in {
        "BN": "BatchNorm2d", "FrozenBN": "FrozenBatchNorm2d", "SyncBN": "SyncBatchNorm", "GN": "GroupNorm"}[norm]
    if norm != "SyncBN":  # SyncBN needs a process group to run
        assert model(torch.randn(1, 3, 64, 64)).isfinite().all()


@pytest.mark.parametrize("depth", [18, 50])
def test_zero_init_last_makes_blocks_identity_plus_shortcut(depth):
    model = build_model(f"resnet{depth}", zero_init_last=True).eval()
    block = model.res3[1]  # identity shortcut
    x = torch.rand(1, block.in_channels, 8, 8)
    assert torch.allclose(block(x), x)
    assert not model.res3[0].last_norm.weight.any()


def test_frozen_batchnorm_equals_batchnorm_in_eval(randomise_norms):
    bn = torch.nn.BatchNorm2d(8).eval()
    randomise_norms(bn)
    frozen = FrozenBatchNorm2d.convert_frozen_batchnorm(torch.nn.Sequential(bn))[0]
    frozen2 = FrozenBatchNorm2d(8)
    frozen2.load_state_dict(bn.state_dict())  # num_batches_tracked is dropped
    x = torch.randn(2, 8, 4, 4)
    assert torch.allclose(frozen(x), bn(x), atol=1e-6)
    assert torch.allclose(frozen2(x), bn(x), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 42}, "unsupported depth"),
    ({"shortcut": "D"}, "unknown shortcut option"),
    ({"norm": "LN"}, "unknown norm"),
    ({"freeze_at": 6}, "freeze_at"),
    ({"num_classes": 0, "out_features": ["linear"]}, "num_classes is 0"),
])
def test_bad_options_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet(**kwargs)
