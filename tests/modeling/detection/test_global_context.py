import torch

from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.modeling.detection.roi_heads import whole_image_boxes


def _detector(detector_cfg, context: bool):
    cfg = detector_cfg(**{"MODEL.RESNETS.DEPTH": 18, "MODEL.RESNETS.NORM": "GN", "MODEL.ROI_HEADS.NUM_CLASSES": 3,
                          "MODEL.MASK_ON": True, "INPUT.MIN_SIZE_TEST": 0, "MODEL.RPN.POST_NMS_TOPK_TEST": 50,
                          "MODEL.ROI_BOX_HEAD.GLOBAL_CONTEXT": context})
    torch.manual_seed(0)
    return build_detector(cfg)


def test_context_concatenates_each_images_whole_image_feature(detector_cfg):
    heads = _detector(detector_cfg, True).eval().roi_heads
    assert heads.box_predictor.cls_score.in_features == 2 * 512
    features = torch.randn(2, 256, 6, 8)
    sizes = [(96, 128), (64, 80)]
    boxes = [torch.tensor([[0.0, 0, 40, 40], [10, 10, 90, 60], [5, 5, 20, 30]]), torch.tensor([[0.0, 8, 30, 50]])]
    with torch.no_grad():
        res5 = heads.res5_maps(features)
        got = heads._box_features(res5(boxes), res5, [3, 1], sizes)
        own = heads.pooled_res5(features, boxes).mean(dim=(2, 3))
        context = heads.pooled_res5(features, [torch.tensor([[0.0, 0, 128, 96]]),
                                               torch.tensor([[0.0, 0, 80, 64]])]).mean(dim=(2, 3))
    assert got.shape == (4, 1024)
    torch.testing.assert_close(got[:, :512], own)
    torch.testing.assert_close(got[:, 512:], context[[0, 0, 0, 1]])
    assert not torch.allclose(context[0], context[1])  # each image its own context
    assert [b.tolist() for b in whole_image_boxes(sizes, own)] == [[[0, 0, 128, 96]], [[0, 0, 80, 64]]]


def test_context_is_trained_end_to_end_and_detects(detector_cfg):
    model = _detector(detector_cfg, True)
    images = [torch.randint(0, 256, (3, 90, 120), dtype=torch.uint8)]
    masks = torch.zeros(1, 90, 120, dtype=torch.uint8)
    masks[0, 10:50, 20:80] = 1
    targets = [{"boxes": torch.tensor([[20.0, 10, 80, 50]]), "labels": torch.tensor([1]), "masks": masks}]
    losses = model.train()(images, targets)
    assert all(v.isfinite() for v in losses.values())
    weight = model.roi_heads.box_predictor.cls_score.weight
    grad = torch.autograd.grad(losses["loss_cls"], weight)[0]
    assert grad[:, 512:].abs().sum() > 0  # the context half of the predictor learns
    with torch.no_grad():
        det = model.eval()(images)[0]
    assert len(det) > 0 and det.masks is not None and det.masks.shape[1:] == (90, 120)
