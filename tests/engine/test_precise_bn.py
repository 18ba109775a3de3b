import pytest
import torch
from torch import nn

from resnet_det.engine.cls_trainer import ClassificationTrainer
from resnet_det.engine.det_trainer import DetectionTrainer
from resnet_det.engine.hooks import recompute_bn_stats
from resnet_det.weights import load_weights


def test_statistics_become_the_averages_over_the_batches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)).train()
    data = [torch.randn(4, 3, 5, 5) * 2 + 1 for _ in range(6)]
    before = model[0].weight.clone()
    assert recompute_bn_stats(model, iter([*data, torch.full((4, 3, 5, 5), 1e3)]), 6) == 1  # the 7th is not read
    with torch.no_grad():
        features = torch.cat([model[0](x) for x in data])
    assert torch.allclose(model[1].running_mean, features.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(model[1].running_var, features.var((0, 2, 3), unbiased=False), rtol=1e-3)
    assert torch.equal(model[0].weight, before)


def _norm_state(path):
    state = load_weights(path).state_dict
    stats = {k: v for k, v in state.items() if "running_" in k}
    weights = {k: v for k, v in state.items() if "running_" not in k and "num_batches" not in k}
    return stats, weights


def test_the_trainer_recomputes_statistics_before_the_final_checkpoint(tmp_path, small_run):
    for name, enabled in (("plain", "False"), ("precise", "True")):
        cfg = small_run("cls", tmp_path / name, "SOLVER.MAX_ITER", "6", "TEST.PRECISE_BN.ENABLED", enabled,
                        "TEST.PRECISE_BN.NUM_ITER", "3")
        ClassificationTrainer(cfg).train()
    plain_stats, plain_weights = _norm_state(tmp_path / "plain/model_final.pth")
    precise_stats, precise_weights = _norm_state(tmp_path / "precise/model_final.pth")
    assert all(torch.equal(plain_weights[k], precise_weights[k]) for k in plain_weights)  # training unchanged
    assert any(not torch.allclose(plain_stats[k], precise_stats[k]) for k in plain_stats)


def test_detectors_refuse_it(small_run, tmp_path):
    with pytest.raises(ValueError, match="PRECISE_BN is for classifiers"):
        DetectionTrainer(small_run("det", tmp_path, "TEST.PRECISE_BN.ENABLED", "True"))
