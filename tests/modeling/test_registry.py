import pytest

from resnet_det import build_model, list_models
from resnet_det.modeling.registry import register_model


def test_all_paper_models_are_registered():
    names = list_models()
    for depth in (18, 34, 50, 101, 152):
        assert f"resnet{depth}" in names
    for depth in (20, 32, 44, 56, 110, 1202):
        assert f"cifar_resnet{depth}" in names
    for depth in (20, 32, 44, 56, 110):
        assert f"cifar_plain{depth}" in names
    assert names.index("resnet18") < names.index("resnet101")


def test_overrides_reach_the_constructor():
    model = build_model("resnet18", num_classes=7, norm="GN")
    assert model.linear.out_features == 7
    assert type(model.res2[0].conv1.norm).__name__ == "GroupNorm"


def test_unknown_and_duplicate_names():
    with pytest.raises(KeyError, match="resnet50"):
        build_model("resnet51")
    with pytest.raises(KeyError, match="already registered"):
        register_model("resnet50", lambda: None)
