import pytest
import torch
from torch import nn

from resnet_det.engine.ema import WeightEMA


def _run(ema: WeightEMA, model: nn.Module, values: list[float]) -> list[torch.Tensor]:
    """Set the weight to each of ``values`` in turn as iterations 0, 1, ... and update the average."""
    seen = []
    for it, v in enumerate(values):
        with torch.no_grad():
            model.weight.fill_(v)
        ema.update(it)
        seen.append(ema.average.module.weight.detach().clone())
    return seen


@pytest.mark.parametrize("period", [1, 2])
def test_the_average_takes_each_period_s_weights_at_its_decay(period):
    model = nn.Linear(1, 1, bias=False)
    initial = model.weight.item()
    seen = _run(WeightEMA(model, decay=0.5, period=period), model, [1.0, 2.0, 3.0, 4.0])
    # AveragedModel starts from the first weights it is given, then w <- 0.5 w + 0.5 new; with period
    # 2, before its first update the average holds the weights it was built from.
    expected = {1: [1.0, 1.5, 2.25, 3.125], 2: [initial, 2.0, 2.0, 3.0]}[period]
    assert [s.item() for s in seen] == pytest.approx(expected)


def test_the_average_copies_the_weights_while_the_learning_rate_warms_up():
    model = nn.Linear(1, 1, bias=False)
    seen = _run(WeightEMA(model, decay=0.5, warmup_iters=2), model, [1.0, 2.0, 3.0, 5.0])
    assert [s.item() for s in seen] == pytest.approx([1.0, 2.0, 3.0, 4.0])


def test_batch_norm_statistics_are_averaged_and_swapping_in_restores_the_weights():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    ema = WeightEMA(model, decay=0.5)
    ema.update(0)
    own = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model[1].running_mean.fill_(4.0)
    ema.update(1)
    assert torch.allclose(ema.average.module[1].running_mean, (own["1.running_mean"] + 4.0) / 2)
    changed = {k: v.clone() for k, v in model.state_dict().items()}
    with ema.swapped_in():
        assert torch.equal(model[1].running_mean, ema.average.module[1].running_mean)
    assert all(torch.equal(changed[k], v) for k, v in model.state_dict().items())


def test_a_run_evaluates_the_average_beside_its_weights_and_checkpoints_it(tmp_path, small_trainer):
    trainer = small_trainer("cls", tmp_path, "SOLVER.EMA.ENABLED", "True", "SOLVER.EMA.DECAY", "0.9",
                            "SOLVER.MAX_ITER", "12", "SOLVER.CHECKPOINT_PERIOD", "6")
    results = trainer.train()["results"]
    assert set(results) == {"shapes_test", "shapes_test/ema"}
    assert results["shapes_test"] != results["shapes_test/ema"]
    final = torch.load(tmp_path / "model_final.pth", weights_only=True)
    assert final["ema"]["n_averaged"].item() == 12 - 5  # copied during the 5 warm-up iterations, then averaged
    # The average as a weights file another run starts from: it scores what the run reported for it.
    average = torch.load(tmp_path / "model_final_ema.pth", weights_only=True)
    assert all(torch.equal(v, final["ema"][f"module.{k}"]) for k, v in average["model"].items())
    again = small_trainer("cls", tmp_path / "eval", "MODEL.WEIGHTS", str(tmp_path / "model_final_ema.pth"))
    assert again.evaluate(again.load(resume=False))["results"]["shapes_test"] == results["shapes_test/ema"]


def test_an_averaged_classifier_starts_a_detector(tmp_path, small_trainer):
    """A torchvision-style ResNet-18 trained with the average on, its model_final_ema.pth given as a
    C4 detector's MODEL.WEIGHTS: the trunk and res5 take the averaged weights, batch-norm statistics
    included (frozen there), and the detector trains."""
    small_trainer("cls", tmp_path / "cls", "MODEL.ARCH", "resnet18", "SOLVER.EMA.ENABLED", "True",
                  "SOLVER.EMA.DECAY", "0.5", "SOLVER.MAX_ITER", "8", "SOLVER.CHECKPOINT_PERIOD", "8",
                  "TEST.EVAL_PERIOD", "0").train()
    average = torch.load(tmp_path / "cls" / "model_final_ema.pth", weights_only=True)["model"]
    detector = small_trainer("det", tmp_path / "det", "MODEL.RESNETS.NORM", "FrozenBN", "SOLVER.MAX_ITER", "2",
                             "MODEL.WEIGHTS", str(tmp_path / "cls" / "model_final_ema.pth"))
    detector.load(resume=False)
    state = detector.model.state_dict()
    for ours, theirs in [("backbone.stem.conv1.weight", "stem.conv1.weight"),
                         ("backbone.res4.1.conv2.norm.running_var", "res4.1.conv2.norm.running_var"),
                         ("roi_heads.res5.0.conv1.weight", "res5.0.conv1.weight")]:
        assert torch.equal(state[ours], average[theirs]), ours
    assert detector.train()["iterations"] == 2
