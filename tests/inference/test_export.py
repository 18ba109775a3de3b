import torch

from resnet_det.inference.export import Tolerance, detection_disagreements
from resnet_det.modeling.detection.structures import Instances


def _detections(shift: float = 0.0, score: float = 0.8, mask_rows: int = 10) -> Instances:
    masks = torch.zeros(2, 40, 40, dtype=torch.bool)
    masks[0, :mask_rows, :10] = True
    masks[1, 20:30, 20:30] = True
    return Instances(torch.tensor([[0.0 + shift, 0, 10, 10], [20, 20, 30, 30]]), torch.tensor([score, 0.055]),
                     torch.tensor([1, 2]), masks)


def test_agreeing_outputs_have_no_disagreement():
    assert detection_disagreements(_detections(), _detections(), 0.05, Tolerance()) == []


def test_a_detection_at_the_threshold_may_be_missing_from_the_other():
    clear = _detections()
    dropped = Instances(clear.boxes[:1], clear.scores[:1], clear.labels[:1], clear.masks[:1])
    assert detection_disagreements(clear, dropped, 0.05, Tolerance()) == []


def test_a_moved_box_a_changed_score_or_mask_or_label_is_reported():
    tolerance = Tolerance()
    assert any("no counterpart" in p for p in detection_disagreements(_detections(), _detections(shift=2), 0.05,
                                                                       tolerance))
    assert any("score" in p for p in detection_disagreements(_detections(), _detections(score=0.7), 0.05, tolerance))
    assert any("mask IoU" in p for p in detection_disagreements(_detections(), _detections(mask_rows=5), 0.05,
                                                                 tolerance))
    relabelled = _detections()
    relabelled.labels[0] = 0
    assert len(detection_disagreements(_detections(), relabelled, 0.05, tolerance)) == 2  # missing both ways


def test_boxes_of_no_area_are_matched_by_their_coordinates():
    """A random detector on a blank image gives several boxes squashed to one edge, where IoU is 0/0."""
    boxes = torch.tensor([[5.0, 0, 5, 8], [5.0, 0, 5, 8], [9.0, 3, 9, 3]])
    det = Instances(boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([1, 1, 1]))
    assert detection_disagreements(det, det, 0.05, Tolerance()) == []
    moved = Instances(boxes + torch.tensor([0.0, 0, 0, 2]), det.scores, det.labels)
    assert len(detection_disagreements(det, moved, 0.05, Tolerance())) == 6  # 2 px off: all three, both ways
