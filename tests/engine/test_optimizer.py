import pytest
import torch
from torch import nn

from resnet_det import build_detector
from resnet_det.config import load_config
from resnet_det.engine.optimizer import parameter_groups


@pytest.mark.parametrize("norm", [nn.BatchNorm2d(4), nn.GroupNorm(2, 4), nn.SyncBatchNorm(4)])
def test_norm_layers_get_their_own_weight_decay(norm):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), norm, nn.Linear(4, 2))
    model[2].bias.requires_grad_(False)  # frozen: in no group
    groups = parameter_groups(model, 1e-4, 0.0)
    assert [g["weight_decay"] for g in groups] == [1e-4, 0.0]
    assert {id(p) for p in groups[1]["params"]} == {id(norm.weight), id(norm.bias)}
    assert {id(p) for p in groups[0]["params"]} == {id(model[0].weight), id(model[0].bias), id(model[2].weight)}


def test_a_detector_s_groupnorms_are_the_norm_group():
    model = build_detector(load_config("demo"))
    rest, norms = parameter_groups(model, 1e-4, 0.0)
    expected = sum(p.numel() for m in model.modules() if isinstance(m, nn.GroupNorm) for p in m.parameters())
    assert sum(p.numel() for p in norms["params"]) == expected > 0
    assert sum(p.numel() for g in (rest, norms) for p in g["params"]) == \
        sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert torch.optim.SGD([rest, norms], lr=0.1).param_groups[1]["weight_decay"] == 0.0
