"""Matching boxes to ground truth and sampling them for the losses, with no host-device sync.

Both work with masks and ``torch.where`` instead of ``nonzero`` or boolean indexing, so on a GPU
they queue their kernels and return without waiting for the device.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Match:
    """Each box's best ground truth (``index``, whatever its IoU) and its ``label``: 1 foreground,
    0 background, -1 ignored."""

    index: torch.Tensor
    label: torch.Tensor


def check_match_rule(thresholds: Sequence[float], labels: Sequence[int], where: str) -> None:
    """Refuse an IoU rule detectron2's ``Matcher`` would refuse, naming the config keys."""
    if len(labels) != len(thresholds) + 1:
        raise ValueError(f"{where}: {len(thresholds)} IOU_THRESHOLDS need {len(thresholds) + 1} IOU_LABELS, "
                         f"got {list(labels)}")
    if list(thresholds) != sorted(thresholds) or not all(0 <= t <= 1 for t in thresholds):
        raise ValueError(f"{where}: IOU_THRESHOLDS must rise within [0, 1], got {list(thresholds)}")
    if not set(labels) <= {-1, 0, 1}:
        raise ValueError(f"{where}: IOU_LABELS are -1 (ignore), 0 (background) or 1 (foreground), got {list(labels)}")


def match_boxes(iou: torch.Tensor, thresholds: Sequence[float], labels: Sequence[int],
                allow_low_quality: bool) -> Match:
    """Match each column of ``iou`` (G ground truth x N boxes, G >= 1) to its best ground truth and
    label it as detectron2's ``Matcher(thresholds, labels)`` does: a best IoU in
    ``[thresholds[i-1], thresholds[i])`` gets ``labels[i]`` (so ``[0.3, 0.7]`` with ``[0, -1, 1]`` is
    the RPN's rule and ``[0.5]`` with ``[0, 1]`` the RoI head's).

    With ``allow_low_quality``, every box that ties for a ground truth's highest IoU is foreground,
    matched to its own best ground truth, as in Faster R-CNN and detectron2 (including their quirk
    that a ground truth overlapping nothing ties with every box at IoU 0).
    """
    values, best = iou.max(dim=0)
    bounds = torch.tensor(list(thresholds), dtype=values.dtype, device=values.device)
    label = torch.tensor(list(labels), device=values.device)[torch.bucketize(values, bounds, right=True)]
    if allow_low_quality:
        ties = (iou == iou.max(dim=1, keepdim=True).values).any(dim=0)
        label = torch.where(ties, 1, label)
    return Match(best, label)


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
