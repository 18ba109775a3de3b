"""A user's own hook and evaluator plug into both trainers without a change to resnet_det.engine."""
import json

import pytest

from resnet_det.engine.train_loop import HookBase
from resnet_det.evaluation.evaluator import DatasetEvaluator


class StepCounter(HookBase):
    """Counts the steps it saw and keeps each step's loss."""

    def before_train(self):
        self.losses, self.finished = [], None

    def after_step(self):
        self.losses.append(self.state.step_output.loss.item())

    def after_train(self):
        self.finished = self.state.completed


class ImageCounter(DatasetEvaluator):
    """Counts the test images it was given predictions for."""

    def reset(self):
        self.images = 0

    def process(self, inputs, outputs):
        self.images += len(outputs)

    def evaluate(self):
        return {"count": {"images": self.images}}


def with_image_counter(trainer_class):
    class Counting(trainer_class):
        def build_evaluators(self, cfg, dataset_name):
            return [*super().build_evaluators(cfg, dataset_name), ImageCounter()]
    return Counting


@pytest.mark.parametrize("task, test_set, num_images", [("cls", "shapes_test", 1000), ("det", "shapes_det_val", 48)])
def test_a_custom_hook_and_evaluator_join_the_run(task, test_set, num_images, tmp_path, small_run):
    from resnet_det.engine.cls_trainer import ClassificationTrainer
    from resnet_det.engine.det_trainer import DetectionTrainer
    trainer_class = with_image_counter({"cls": ClassificationTrainer, "det": DetectionTrainer}[task])
    trainer = trainer_class(small_run(task, tmp_path, "SOLVER.MAX_ITER", "3", "DATASETS.TEST", f'("{test_set}",)'))
    counter = StepCounter()
    trainer.register_hooks([counter])
    results = trainer.train()["results"][test_set]

    assert len(counter.losses) == 3 and counter.finished is True
    assert results["count"] == {"images": num_images}
    assert len(results) == (2 if task == "cls" else 3)  # beside classification, or bbox and segm
    saved = json.loads((tmp_path / "results.json").read_text())["results"][test_set]["count"]
    logged = [json.loads(line) for line in (tmp_path / "metrics.json").read_text().splitlines()]
    assert saved == {"images": num_images} and logged[-1][f"{test_set}/count/images"] == num_images


class WeightAverage(HookBase):
    """An exponential moving average of the weights, as a hook of a few lines (torch's AveragedModel)."""

    def __init__(self, model, decay):
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
        self.model, self.average = model, AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))

    def after_step(self):
        self.average.update_parameters(self.model)


def test_a_weight_average_is_a_hook_of_a_few_lines(tmp_path, small_run):
    import torch

    from resnet_det.engine.cls_trainer import ClassificationTrainer
    trainer = ClassificationTrainer(small_run("cls", tmp_path, "SOLVER.MAX_ITER", "3", "TEST.EVAL_PERIOD", "0"))
    seen = []

    class Record(HookBase):  # each step's weights, to compute the average by hand
        def after_step(self):
            seen.append({k: v.detach().clone() for k, v in trainer.model.named_parameters()})

    average = WeightAverage(trainer.model, decay=0.9)
    trainer.register_hooks([Record(), average])
    trainer.train()
    # AveragedModel starts from the first step's weights, then w <- 0.9 w + 0.1 w_step.
    expected = {k: seen[0][k] * 0.81 + seen[1][k] * 0.09 + seen[2][k] * 0.1 for k in seen[0]}
    got = dict(average.average.module.named_parameters())
    assert all(torch.allclose(got[k], expected[k], atol=1e-6) for k in expected)
    assert not all(torch.equal(got[k], seen[-1][k]) for k in expected)  # not merely the last weights
