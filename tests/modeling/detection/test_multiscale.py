import pytest
import torch

from resnet_det.modeling.detection.multiscale import MultiScaleConfig, PyramidRes5, adjacent_scales
from resnet_det.modeling.detection.rcnn import build_detector


def _cfg(detector_cfg, **overrides):
    return detector_cfg(**{"MODEL.RESNETS.DEPTH": 18, "MODEL.RESNETS.NORM": "GN", "MODEL.ROI_HEADS.NUM_CLASSES": 3,
                           "MODEL.MASK_ON": True, "INPUT.MIN_SIZE_TEST": 96, "MODEL.RPN.POST_NMS_TOPK_TEST": 50,
                           "MODEL.ROI_HEADS.SCORE_THRESH_TEST": 0.0, **overrides})


def test_adjacent_scales_bracket_the_target():
    # Sides of four RoIs at three scales (rows): crossing 224 between scales 0-1, 1-2, never (too
    # small: the top pair), and already above at the smallest scale (the bottom pair).
    sides = torch.tensor([[100.0, 150, 10, 300], [250, 200, 20, 600], [500, 400, 40, 1200]])
    assert adjacent_scales(sides, 224).tolist() == [0, 1, 1, 0]
    assert adjacent_scales(sides[:1], 224).tolist() == [0, 0, 0, 0]


def test_config_refuses_unordered_sizes():
    with pytest.raises(ValueError, match="ascending"):
        MultiScaleConfig((600, 400))


def test_maxout_merges_each_roi_at_its_two_scales(detector_cfg):
    heads = build_detector(_cfg(detector_cfg)).eval().roi_heads
    levels = [torch.randn(1, 256, 4, 5), torch.randn(1, 256, 8, 10), torch.randn(1, 256, 16, 20)]
    factors = torch.tensor([[[0.5, 0.5]], [[1.0, 1.0]], [[2.0, 2.0]]])
    # Target 50 at scales x0.5, x1, x2: sides 20 (10/20/40) and 40 (20/40/80) cross it between the
    # two larger scales or not at all (the top pair, levels 1-2); 60 (30/60/120) between levels 0-1;
    # 200 is above it everywhere (the bottom pair, 0-1).
    boxes = [torch.tensor([[0.0, 0, 20, 20], [10, 10, 70, 70], [20, 20, 60, 60], [0, 0, 200, 200]])]
    pyramid = PyramidRes5(heads, levels, factors, target=50.0)
    with torch.no_grad():
        merged = pyramid(boxes)
        at = [heads.pooled_res5(f, [boxes[0] * s]) for f, s in zip(levels, (0.5, 1.0, 2.0))]
    top, bottom = torch.maximum(at[1], at[2]), torch.maximum(at[0], at[1])
    torch.testing.assert_close(merged[[0, 2]], top[[0, 2]])
    torch.testing.assert_close(merged[[1, 3]], bottom[[1, 3]])
    assert not torch.allclose(merged[1], top[1])


def test_one_level_at_the_test_size_is_single_scale_testing(detector_cfg):
    images = [torch.randint(0, 256, size, dtype=torch.uint8) for size in ((3, 90, 120), (3, 80, 64))]
    torch.manual_seed(0)
    plain = build_detector(_cfg(detector_cfg)).eval()
    ms = build_detector(_cfg(detector_cfg, **{"TEST.MULTI_SCALE.ENABLED": True, "TEST.MULTI_SCALE.MIN_SIZES": (96,),
                                              "TEST.MULTI_SCALE.MAX_SIZE": 1333})).eval()
    ms.load_state_dict(plain.state_dict())
    with torch.no_grad():
        expected, got = plain(images), ms(images)
        pyramid = build_detector(_cfg(detector_cfg, **{"TEST.MULTI_SCALE.ENABLED": True,
                                                       "TEST.MULTI_SCALE.MIN_SIZES": (64, 96, 128)})).eval()
        pyramid.load_state_dict(plain.state_dict())
        several = pyramid(images)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g.boxes, e.boxes)
        torch.testing.assert_close(g.scores, e.scores)
        assert torch.equal(g.masks, e.masks)
    assert len(several[0]) > 0 and not torch.allclose(several[0].scores[:5], expected[0].scores[:5])
