import pytest
import torch

from resnet_det.modeling.detection.masks import paste_masks
from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.modeling.detection.tta import DetectorWithTTA, TTAConfig, flip_boxes


def _detector(detector_cfg, mask_on=False):
    cfg = detector_cfg(**{"MODEL.RESNETS.DEPTH": 18, "MODEL.RESNETS.NORM": "GN", "MODEL.BACKBONE.FREEZE_AT": 0,
                          "MODEL.ROI_HEADS.NUM_CLASSES": 3, "INPUT.MIN_SIZE_TEST": 96, "INPUT.MAX_SIZE_TEST": 400,
                          "MODEL.RPN.POST_NMS_TOPK_TEST": 100, "MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.0,
                          "MODEL.MASK_ON": mask_on})
    torch.manual_seed(0)
    return build_detector(cfg).eval()


@pytest.fixture
def detector(detector_cfg):
    return _detector(detector_cfg)


@pytest.fixture
def image():
    g = torch.Generator().manual_seed(1)
    picture = torch.randint(0, 60, (3, 90, 120), dtype=torch.uint8, generator=g)
    picture[:, 20:60, 15:70] = 220
    return picture


def _as_set(det):
    return {(round(b, 3), round(s, 4), int(c)) for b, s, c in
            zip(det.boxes.flatten().view(-1, 4).sum(1).tolist(), det.scores.tolist(), det.labels.tolist())}


def test_flip_boxes_maps_back_and_is_its_own_inverse():
    boxes = torch.tensor([[10.0, 5, 30, 25], [0, 0, 100, 50]])
    assert torch.equal(flip_boxes(boxes, 100), torch.tensor([[70.0, 5, 90, 25], [0, 0, 100, 50]]))
    assert torch.equal(flip_boxes(flip_boxes(boxes, 100), 100), boxes)


def test_one_size_without_flip_is_the_detector_itself(detector, image):
    with torch.no_grad():
        plain = detector([image])[0]
        tta = DetectorWithTTA(detector, TTAConfig(min_sizes=(96,), max_size=400, flip=False))([image])[0]
    assert len(plain) > 0 and _as_set(tta) == _as_set(plain)


def test_test_size_replaces_the_configured_one(detector, image):
    with torch.no_grad():
        at_64 = detector([image], test_size=(64, 400))[0]
        detector.inputs.min_size_test = 64
        try:
            configured = detector([image])[0]
        finally:
            detector.inputs.min_size_test = 96
    assert torch.equal(at_64.boxes, configured.boxes) and torch.equal(at_64.scores, configured.scores)


def test_sizes_and_flips_are_merged_from_every_pass(detector, image):
    cfg = TTAConfig(min_sizes=(80, 112), max_size=400, flip=True, detections_per_image=50)
    with torch.no_grad():
        merged = DetectorWithTTA(detector, cfg)([image])[0]
        passes = []
        for short in cfg.min_sizes:
            passes.append(detector([image], test_size=(short, 400))[0])
            flipped = detector([image.flip(-1)], test_size=(short, 400))[0]
            flipped.boxes = flip_boxes(flipped.boxes, image.shape[-1])
            passes.append(flipped)
    every = set().union(*(_as_set(p) for p in passes))
    assert 0 < len(merged) <= 50 and _as_set(merged) <= every
    assert (merged.scores.diff() <= 0).all()
    assert merged.scores[0] == max(p.scores.max() for p in passes if len(p))  # the best of all passes survives


def test_one_size_without_flip_gives_the_detectors_masks(detector_cfg, image):
    detector = _detector(detector_cfg, mask_on=True)
    with torch.no_grad():
        plain = detector([image])[0]
        tta = DetectorWithTTA(detector, TTAConfig(min_sizes=(96,), max_size=400, flip=False))([image])[0]
    assert len(plain) > 0 and tta.masks is not None and tta.masks.any()
    # The same boxes, mapped to the resized input and back: masks equal up to pixels at the threshold.
    assert (tta.masks != plain.masks).float().mean() < 1e-3


def test_masks_average_every_version_flipped_back(detector_cfg, image):
    detector = _detector(detector_cfg, mask_on=True)
    cfg = TTAConfig(min_sizes=(80, 112), max_size=400, flip=True)
    width = image.shape[-1]
    with torch.no_grad():
        det = DetectorWithTTA(detector, cfg)([image])[0]
        probs = []
        for short in cfg.min_sizes:
            probs.append(detector.mask_probs_at([image], [det.boxes], [det.labels], (short, 400))[0])
            flipped = detector.mask_probs_at([image.flip(-1)], [flip_boxes(det.boxes, width)], [det.labels],
                                             (short, 400))[0]
            probs.append(flipped.flip(-1))
    expected = paste_masks(torch.stack(probs).mean(dim=0), det.boxes, *image.shape[-2:])
    assert det.masks is not None and expected.any() and torch.equal(det.masks, expected)
    assert not torch.equal(expected, paste_masks(probs[0], det.boxes, *image.shape[-2:]))
