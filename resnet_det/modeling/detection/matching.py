"""Matching boxes to ground truth and sampling them for the losses, with no host-device sync.

Both work with masks and ``torch.where`` instead of ``nonzero`` or boolean indexing, so on a GPU
they queue their kernels and return without waiting for the device.
"""
from __future__ import annotations

import torch

BELOW_LOW = -1
BETWEEN = -2


def match_boxes(iou: torch.Tensor, high: float, low: float, allow_low_quality: bool) -> torch.Tensor:
    """For each column of ``iou`` (G ground truth x N boxes, G >= 1): the index of its best
    ground truth where the IoU is at least ``high``, ``BELOW_LOW`` under ``low``, ``BETWEEN`` otherwise.

    With ``allow_low_quality``, every box that ties for a ground truth's highest IoU is matched to
    its own best ground truth whatever the thresholds, as in Faster R-CNN and detectron2 (including
    their quirk that a ground truth overlapping nothing ties with every box at IoU 0).
    """
    values, best = iou.max(dim=0)
    matches = torch.where(values >= high, best, torch.where(values < low, BELOW_LOW, BETWEEN))
    if allow_low_quality:
        ties = (iou == iou.max(dim=1, keepdim=True).values).any(dim=0)
        matches = torch.where(ties, best, matches)
    return matches


def sample_labels(positive: torch.Tensor, negative: torch.Tensor, num_samples: int,
                  positive_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of the positives and negatives kept, along the last dimension (any leading shape):
    at most ``num_samples`` elements, up to ``positive_fraction`` of them positive, the rest filled
    with negatives; each a uniformly random subset of its kind.

    A random key per element, offset by its kind (positive 0, negative 1, neither 2), sorts the
    positives first and the negatives next, each in random order; an element is kept when its rank
    within its kind is under its kind's quota.
    """
    kind = torch.where(positive, 0.0, torch.where(negative, 1.0, 2.0))
    order = (kind + torch.rand(kind.shape, device=kind.device)).argsort(dim=-1)
    positions = torch.arange(order.shape[-1], device=order.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(-1, order, positions)
    num_positive = positive.sum(dim=-1, keepdim=True)
    pos_quota = num_positive.clamp(max=int(num_samples * positive_fraction))
    keep_pos = positive & (rank < pos_quota)
    keep_neg = negative & (rank - num_positive < num_samples - pos_quota)
    return keep_pos, keep_neg
