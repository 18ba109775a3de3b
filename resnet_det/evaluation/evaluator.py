"""The evaluator protocol that every task shares, and the loop that feeds an evaluator a test set.

Every evaluator returns its results in one schema, ``{task: {metric: value}}``: the task is
``"classification"``, ``"bbox"`` or ``"segm"``; values are percentages (AP, error rates), counts,
or None where a metric has nothing to measure. Per-class figures sit beside the summary as
``"<metric>-<class>"``, as in detectron2 (``"AP-person"``). A trainer reports
``{test set: {task: {metric: value}}}``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from resnet_det.utils.progress import track

Results = dict[str, dict[str, Any]]


class DatasetEvaluator:
    """Scores predictions on one test set: :meth:`reset`, :meth:`process` for every batch, then
    :meth:`evaluate`. Under ``torchrun`` every rank processes its share of the set; ``evaluate`` is
    called on every rank and returns the results on the main process (other ranks may return ``{}``)."""

    def reset(self) -> None:
        """Forget what earlier passes processed."""

    def process(self, inputs: Any, outputs: Any) -> None:
        """Take one batch: ``inputs`` as the test batch source gave it, ``outputs`` the model's predictions."""
        raise NotImplementedError

    def evaluate(self) -> Results:
        """``{task: {metric: value}}`` over everything processed since :meth:`reset`."""
        raise NotImplementedError


class DatasetEvaluators(DatasetEvaluator):
    """Several evaluators on one test set, run together; their results are merged, each task from one."""

    def __init__(self, evaluators: Sequence[DatasetEvaluator]) -> None:
        self.evaluators = list(evaluators)

    def reset(self) -> None:
        for evaluator in self.evaluators:
            evaluator.reset()

    def process(self, inputs: Any, outputs: Any) -> None:
        for evaluator in self.evaluators:
            evaluator.process(inputs, outputs)

    def evaluate(self) -> Results:
        results: Results = {}
        for evaluator in self.evaluators:
            for task, metrics in evaluator.evaluate().items():
                if task in results:
                    raise ValueError(f"two evaluators of one test set report the task {task!r}")
                results[task] = metrics
        return results


def inference_on_dataset(predict: Callable[[Any], Any], batches: Iterable[Any],
                         evaluator: DatasetEvaluator, desc: str = "inference") -> Results:
    """Run ``predict`` on every batch without gradients, give each batch and its predictions to
    ``evaluator``, and return its results; the progress (batches done, ETA) is shown as ``desc``."""
    evaluator.reset()
    with torch.no_grad():
        for batch in track(batches, desc, unit="batches"):
            evaluator.process(batch, predict(batch))
    return evaluator.evaluate()


def flatten_results(results: dict[str, Results]) -> dict[str, float]:
    """``{"<test set>/<task>/<metric>": value}`` of the numeric values, for scalar logs."""
    return {f"{name}/{task}/{metric}": value for name, tasks in results.items() for task, metrics in tasks.items()
            for metric, value in metrics.items() if isinstance(value, (int, float))}


def summary_lines(results: dict[str, Results]) -> list[str]:
    """One line per test set and task with its summary metrics (per-class ones left out)."""
    def fmt(value: Any) -> str:
        return "n/a" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
    return [f"{name} {task}: " + "  ".join(f"{metric} {fmt(value)}" for metric, value in metrics.items()
                                           if "-" not in metric)
            for name, tasks in results.items() for task, metrics in tasks.items()]
