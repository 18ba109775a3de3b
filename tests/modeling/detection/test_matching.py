"""The sync-free matcher against torchvision's Matcher, and the sampler's counts and uniformity."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision.models.detection._utils import Matcher

from resnet_det.modeling.detection.matching import check_match_rule, match_boxes, sample_labels


def _coarse_iou(num_gt: int, num_boxes: int, seed: int) -> torch.Tensor:
    # Coarse IoU levels make ties (within and across ground truths) and exact threshold hits common.
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 11, (num_gt, num_boxes), generator=g).float() / 10


@given(st.integers(1, 5), st.integers(1, 40), st.booleans(), st.integers(0, 2**31 - 1))
def test_the_rpn_rule_equals_torchvision_matcher(num_gt, num_boxes, low_quality, seed):
    iou = _coarse_iou(num_gt, num_boxes, seed)
    expected = Matcher(0.7, 0.3, allow_low_quality_matches=low_quality)(iou)
    match = match_boxes(iou, (0.3, 0.7), (0, -1, 1), low_quality)
    label = torch.where(expected >= 0, 1, torch.where(expected == Matcher.BELOW_LOW_THRESHOLD, 0, -1))
    assert torch.equal(match.label, label)
    assert torch.equal(match.index[expected >= 0], expected[expected >= 0])


@given(st.integers(1, 5), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_three_labels_follow_detectron2_s_intervals(num_gt, num_boxes, seed):
    """[0.1, 0.5] with [-1, 0, 1]: under 0.1 ignored, [0.1, 0.5) background, from 0.5 foreground."""
    iou = _coarse_iou(num_gt, num_boxes, seed)
    best = iou.max(dim=0).values
    expected = torch.where(best >= 0.5, 1, torch.where(best >= 0.1, 0, -1))
    assert torch.equal(match_boxes(iou, (0.1, 0.5), (-1, 0, 1), False).label, expected)


@pytest.mark.parametrize("thresholds, labels, message", [
    ((0.1, 0.5), (0, 1), "2 IOU_THRESHOLDS need 3 IOU_LABELS"), ((0.7, 0.3), (0, -1, 1), "rise"),
    ((0.5,), (0, 2), "IOU_LABELS are")])
def test_an_inconsistent_rule_is_refused(thresholds, labels, message):
    with pytest.raises(ValueError, match=message):
        check_match_rule(thresholds, labels, "MODEL.ROI_HEADS")


@pytest.mark.parametrize("num_pos, num_neg, expect_pos, expect_neg", [
    (100, 1000, 64, 192),   # both plentiful: the positive quota, the rest negatives
    (10, 1000, 10, 246),    # few positives: negatives fill the batch
    (100, 50, 64, 50),      # few negatives: the batch stays short
    (0, 0, 0, 0),
])
def test_sample_counts(num_pos, num_neg, expect_pos, expect_neg):
    n = num_pos + num_neg + 30  # 30 ignored elements
    perm = torch.randperm(n)
    positive = torch.zeros(n, dtype=torch.bool)
    negative = torch.zeros(n, dtype=torch.bool)
    positive[perm[:num_pos]] = True
    negative[perm[num_pos:num_pos + num_neg]] = True
    pos, neg = sample_labels(positive, negative, 256, 0.25)
    assert int(pos.sum()) == expect_pos and int(neg.sum()) == expect_neg
    assert not (pos & ~positive).any() and not (neg & ~negative).any()


def test_samples_each_row_on_its_own_and_uniformly():
    positive = torch.zeros(2, 20, dtype=torch.bool)
    positive[0, :10] = True  # row 0: ten positives, ten negatives; row 1: all negative
    counts = torch.zeros(2, 20)
    for _ in range(2000):
        pos, neg = sample_labels(positive, ~positive, 8, 0.25)
        assert pos.sum(1).tolist() == [2, 0] and neg.sum(1).tolist() == [6, 8]
        counts += (pos | neg).float()
    # Each positive of row 0 is drawn with probability 2/10, each negative 6/10; row 1's 8/20.
    for got, p in ((counts[0, :10], 0.2), (counts[0, 10:], 0.6), (counts[1], 0.4)):
        assert ((got / 2000 - p).abs() < 0.05).all(), got / 2000
