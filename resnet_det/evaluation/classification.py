"""Top-k classification error over averaged test views, summed across processes."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import torch

from resnet_det.engine.distributed import all_reduce_sum


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> torch.Tensor:
    """For each k, how many samples have their label among the k highest scores."""
    top = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


@torch.no_grad()
def evaluate_views(predict: Callable[[torch.Tensor], torch.Tensor],
                   batches: Iterable[tuple[Sequence[torch.Tensor], torch.Tensor]],
                   device: torch.device) -> dict[str, float]:
    """Top-1/top-5 error in percent, over all ranks, of softmax scores averaged over each image's views.

    ``batches`` yields ``(views, labels)``: a list of uint8 N x 3 x H x W tensors, one per view.
    """
    counts = torch.zeros(3, dtype=torch.int64, device=device)
    for views, labels in batches:
        labels = labels.to(device)
        probs = sum(predict(v.to(device, non_blocking=True)).float().softmax(dim=1) for v in views)
        counts[:2] += topk_correct(probs, labels)
        counts[2] += len(labels)
    correct1, correct5, total = all_reduce_sum(counts).tolist()
    if total == 0:
        raise ValueError("evaluation saw no images")
    return {"top1_error": 100.0 * (1 - correct1 / total), "top5_error": 100.0 * (1 - correct5 / total),
            "num_images": total}


def array_eval_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, rank: int = 0,
                       world_size: int = 1) -> Iterator[tuple[list[torch.Tensor], torch.Tensor]]:
    """Single-view batches of this rank's share (every ``world_size``-th image) of in-memory images."""
    local = torch.arange(rank, len(images), world_size, device=images.device)
    for start in range(0, len(local), batch_size):
        idx = local[start:start + batch_size]
        yield [images[idx]], labels[idx]
