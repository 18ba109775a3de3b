import pytest
import torch

from resnet_det.modeling.detection.box_head import ClassBoxes
from resnet_det.modeling.detection.ensemble import DetectorEnsemble, average_class_boxes
from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.modeling.detection.test_time import build_test_detector
from resnet_det.weights import Weights, save_weights


def _cfg(detector_cfg, **overrides):
    return detector_cfg(**{"MODEL.RESNETS.DEPTH": 18, "MODEL.RESNETS.NORM": "GN", "MODEL.ROI_HEADS.NUM_CLASSES": 3,
                           "MODEL.MASK_ON": True, "INPUT.MIN_SIZE_TEST": 96, "MODEL.RPN.POST_NMS_TOPK_TEST": 40,
                           "MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.0, **overrides})


def _images():
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, 256, (3, 90, 120), dtype=torch.uint8, generator=g)]


def test_average_class_boxes():
    a = ClassBoxes(torch.tensor([[0.2, 0.4]]), torch.zeros(1, 2, 4), torch.tensor([True]))
    b = ClassBoxes(torch.tensor([[0.6, 0.0]]), torch.full((1, 2, 4), 2.0), torch.tensor([False]))
    mean = average_class_boxes([a, b])
    torch.testing.assert_close(mean.probs, torch.tensor([[0.4, 0.2]]))
    assert torch.equal(mean.boxes, torch.ones(1, 2, 4)) and mean.finite.tolist() == [False]


def test_ensemble_of_one_is_the_detector(detector_cfg):
    model = build_detector(_cfg(detector_cfg)).eval()
    with torch.no_grad():
        expected, got = model(_images())[0], DetectorEnsemble([model])(_images())[0]
    assert torch.equal(got.boxes, expected.boxes) and torch.equal(got.scores, expected.scores)
    assert torch.equal(got.masks, expected.masks)


def test_members_propose_together_and_average(detector_cfg, tmp_path):
    cfg = _cfg(detector_cfg)
    first = build_detector(cfg).eval()
    torch.manual_seed(5)
    second = build_detector(cfg).eval()
    save_weights(Weights(second.state_dict(), weight_style="caffe"), tmp_path / "second.pth")
    cfg.TEST.ENSEMBLE.WEIGHTS = [str(tmp_path / "second.pth")]
    ensemble = build_test_detector(first, cfg)
    assert isinstance(ensemble, DetectorEnsemble) and ensemble.members[0] is first
    torch.testing.assert_close(ensemble.members[1].state_dict(), second.state_dict())
    with torch.no_grad():
        batches = [m.roi_features(_images()) for m in (first, second)]
        union = [torch.cat([first.proposals(batches[0])[0], second.proposals(batches[1])[0]])]
        own = [m.roi_heads.class_boxes(b.res5, union, b.inputs.image_sizes)[0]
               for m, b in zip((first, second), batches)]
        det = ensemble(_images())[0]
    assert union[0].shape[0] == 80 and len(det) > 0
    # The best detection's score is the mean of the members' probabilities for its proposal and class.
    mean = (own[0].probs + own[1].probs) / 2
    torch.testing.assert_close(det.scores[0], mean.max())
    assert det.masks is not None and det.masks.shape == (len(det), 90, 120)


def test_members_must_detect_the_same_classes(detector_cfg):
    a = build_detector(_cfg(detector_cfg))
    b = build_detector(_cfg(detector_cfg, **{"MODEL.ROI_HEADS.NUM_CLASSES": 4}))
    with pytest.raises(ValueError, match="member 1"):
        DetectorEnsemble([a, b])


def test_members_must_be_trained_detectors(detector_cfg, tmp_path):
    from resnet_det.modeling.resnet import ResNet
    cfg = _cfg(detector_cfg)
    save_weights(Weights(ResNet(18, num_classes=0, norm="GN").state_dict(), weight_style="caffe"), tmp_path / "r18.pth")
    cfg.TEST.ENSEMBLE.WEIGHTS = [str(tmp_path / "r18.pth")]
    with pytest.raises(ValueError, match="not a trained detector"):
        build_test_detector(build_detector(cfg), cfg)
