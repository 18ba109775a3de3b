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
        self.losses.append(self.trainer.step_output.loss.item())

    def after_train(self):
        self.finished = self.trainer.completed


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
