"""Top-k classification error of averaged test views, summed across processes."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from resnet_det.data.loaders.batches import ViewBatch
from resnet_det.evaluation.evaluator import DatasetEvaluator, Results
from resnet_det.utils.distributed import all_reduce_sum


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> torch.Tensor:
    """For each k, how many samples have their label among the k highest scores."""
    top = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


class ClassificationEvaluator(DatasetEvaluator):
    """Top-1 and top-5 error in percent (task ``"classification"``), over all ranks.

    ``outputs`` are N x K class scores of a :class:`~resnet_det.data.loaders.batches.ViewBatch` (the trainer
    averages the softmax of its views). Counts stay on ``device`` until :meth:`evaluate`, so
    processing a batch never waits for it.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        self._counts = torch.zeros(3, dtype=torch.int64, device=self.device)  # top-1 hits, top-5 hits, images

    def process(self, inputs: ViewBatch, outputs: torch.Tensor) -> None:
        labels = inputs.labels.to(self.device)
        self._counts[:2] += topk_correct(outputs.to(self.device), labels)
        self._counts[2] += len(labels)

    def evaluate(self) -> Results:
        correct1, correct5, total = all_reduce_sum(self._counts.clone()).tolist()
        if total == 0:
            raise ValueError("evaluation saw no images")
        return {"classification": {"top1_error": 100.0 * (1 - correct1 / total),
                                   "top5_error": 100.0 * (1 - correct5 / total), "num_images": total}}
