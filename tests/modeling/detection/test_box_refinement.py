import torch

from resnet_det.modeling.detection.box_head import ClassBoxes, select_detections
from resnet_det.modeling.detection.rcnn import build_detector


def _detector(detector_cfg, refine: bool):
    cfg = detector_cfg(**{"MODEL.RESNETS.DEPTH": 18, "MODEL.RESNETS.NORM": "GN", "MODEL.ROI_HEADS.NUM_CLASSES": 2,
                          "INPUT.MIN_SIZE_TEST": 96, "MODEL.RPN.POST_NMS_TOPK_TEST": 100,
                          "MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.0, "MODEL.ROI_HEADS.BOX_REFINEMENT.ENABLED": refine})
    torch.manual_seed(0)
    return build_detector(cfg).eval()


def test_box_voting_averages_the_overlapping_candidates_of_the_class(detector_cfg):
    heads = _detector(detector_cfg, True).roi_heads
    boxes = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 1, 1]], [[2.0, 0, 12, 10], [0, 0, 1, 1]],
                          [[50.0, 50, 60, 60], [1, 0, 11, 10]]])
    probs = torch.tensor([[0.9, 0.0], [0.3, 0.0], [0.2, 0.6]])
    found = ClassBoxes(probs, boxes, torch.ones(3, dtype=torch.bool))
    det = select_detections(found, (100, 100), heads.box_predictor.test, nms_thresh=0.3, voting_iou=0.5)
    # Class 0: the 0.9 box keeps its score and moves to the score-weighted mean with the 0.3 box
    # (IoU 0.67); the far 0.2 box stays alone. Class 1's box (IoU 0.82 with them) does not vote.
    assert det.labels.tolist() == [0, 1, 0] and torch.allclose(det.scores, torch.tensor([0.9, 0.6, 0.2]))
    assert torch.allclose(det.boxes[0], torch.tensor([0.5, 0, 10.5, 10]))
    assert torch.equal(det.boxes[1], boxes[2, 1]) and torch.equal(det.boxes[2], boxes[2, 0])
    plain = select_detections(found, (100, 100), heads.box_predictor.test, nms_thresh=0.3)
    assert torch.equal(plain.boxes[0], boxes[0, 0])


def test_refinement_adds_a_second_pass_and_keeps_the_best_of_both(detector_cfg):
    images = [torch.randint(0, 255, (3, 90, 120), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))]
    with torch.no_grad():
        plain, refined = _detector(detector_cfg, False)(images)[0], _detector(detector_cfg, True)(images)[0]
    assert 0 < len(refined) <= 100 and refined.scores.max() >= plain.scores.max()
    assert not torch.equal(refined.boxes[:5], plain.boxes[:5])  # voting and the second pass moved them
    assert (refined.boxes[:, 0::2] <= 120).all() and (refined.boxes[:, 1::2] <= 90).all()
