import numpy as np
import pytest
import torch

from resnet_det.data.datasets.voc import VOC_CLASSES, VOCDetection, parse_voc_xml
from resnet_det.evaluation.voc import average_precision, detections_by_class, evaluate_voc, ground_truth_by_class
from resnet_det.modeling.detection.structures import Instances


@pytest.mark.parametrize("year, split", [("2007", "test"), ("2012", "trainval")])
def test_ground_truth_scores_100(shared_data, year, split):
    dataset = VOCDetection(shared_data / "VOCdevkit", year, split)
    targets = [(dataset.ids[i], dataset[i][1]) for i in range(len(dataset))]
    outputs = [(image, Instances(t["boxes"], torch.ones(len(t["labels"])), t["labels"])) for image, t in targets]
    for use_07 in (True, False):
        metrics = evaluate_voc(detections_by_class(outputs), ground_truth_by_class(targets), VOC_CLASSES, use_07)
        assert metrics["AP50"] == pytest.approx(100.0) and metrics["AP"] == pytest.approx(100.0)


def test_voc_boxes_become_pixel_edges(shared_data):
    ann = parse_voc_xml(shared_data / "VOCdevkit/VOC2007/Annotations/000001.xml")
    assert ann["boxes"][0] == [47.0, 239.0, 195.0, 371.0] and VOC_CLASSES[ann["labels"][0]] == "dog"
    assert (ann["width"], ann["height"]) == (353, 500)


def test_hand_computed_metrics():
    gt = {0: {"a": (torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), torch.tensor([False, False]))}}
    # One of two objects found, with nothing wrong: recall 0.5 at precision 1.
    dets = {0: [("a", 0.9, [0.0, 0.0, 10.0, 10.0])]}
    area = evaluate_voc(dets, gt, ["x"], use_07_metric=False)
    assert area["AP50"] == pytest.approx(50.0)
    eleven = evaluate_voc(dets, gt, ["x"], use_07_metric=True)
    assert eleven["AP50"] == pytest.approx(100 * 6 / 11)  # recall thresholds 0.0 ... 0.5 reach precision 1
    # A detection on a difficult object is ignored rather than counted as a false positive.
    hard = {0: {"a": (torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), torch.tensor([False, True]))}}
    dets2 = {0: [("a", 0.95, [20.0, 20.0, 30.0, 30.0]), ("a", 0.9, [0.0, 0.0, 10.0, 10.0])]}
    assert evaluate_voc(dets2, hard, ["x"], use_07_metric=False)["AP50"] == pytest.approx(100.0)
    # A duplicate detection of a matched object is a false positive: precision 1 then 1/2 at recall 1.
    dup = {0: [("a", 0.9, [0.0, 0.0, 10.0, 10.0]), ("a", 0.8, [0.0, 0.0, 10.0, 10.0]),
               ("a", 0.7, [20.0, 20.0, 30.0, 30.0])]}
    assert evaluate_voc(dup, gt, ["x"], use_07_metric=False)["AP50"] == pytest.approx(100 * (0.5 + 0.5 * 2 / 3))


def test_average_precision_envelope():
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 0.75])
    assert average_precision(recall, precision, False) == pytest.approx(0.5 * 1.0 + 0.5 * 0.75)
