"""Top-k classification error, summed across processes."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from resnet_det.engine.distributed import all_reduce_sum, get_rank, get_world_size


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> torch.Tensor:
    """For each k, how many samples have their label among the k highest logits."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


@torch.no_grad()
def evaluate_arrays(predict: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                    labels: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Top-1/top-5 error in percent of ``predict`` (uint8 batch -> logits) over all ranks.

    Each rank takes every ``world_size``-th sample, so together they see each sample once.
    """
    rank, world = get_rank(), get_world_size()
    counts = torch.zeros(3, dtype=torch.int64, device=images.device)
    local = torch.arange(rank, len(images), world, device=images.device)
    for start in range(0, len(local), batch_size):
        idx = local[start:start + batch_size]
        y = labels[idx]
        counts[:2] += topk_correct(predict(images[idx]).float(), y)
        counts[2] += len(idx)
    correct1, correct5, total = all_reduce_sum(counts).tolist()
    return {"top1_error": 100.0 * (1 - correct1 / total), "top5_error": 100.0 * (1 - correct5 / total),
            "num_images": total}
