"""detectron2's R50-C4 Faster/Mask R-CNN with seeded random weights, loaded into ours unchanged,
give the same detections on real COCO images. Skips where detectron2 is not importable (install it
from source, or put a source checkout on PYTHONPATH)."""
import pytest
import torch

from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.modeling.detection.structures import Instances

d2_config = pytest.importorskip("detectron2.config", reason="detectron2 is not installed")
d2_modeling = pytest.importorskip("detectron2.modeling", reason="detectron2 is not installed")


@pytest.mark.parametrize("mask_on", [False, True], ids=["faster", "mask"])
def test_same_detections_as_detectron2(coco_images, calibrate_frozen_bn, assert_same_detections, detector_cfg,
                                       mask_on):
    torch.manual_seed(0)
    name = ("COCO-InstanceSegmentation/mask_rcnn_R_50_C4_3x.yaml" if mask_on
            else "COCO-Detection/faster_rcnn_R_50_C4_3x.yaml")
    cfg = d2_config.get_cfg()
    cfg.merge_from_file(d2_config.get_cfg.__globals__["__file__"].rsplit("/detectron2/", 1)[0] + "/configs/" + name)
    cfg.MODEL.DEVICE = "cpu"
    theirs = d2_modeling.build_model(cfg).eval()
    bgr = [im.flip(0).float() for im in coco_images]
    features = calibrate_frozen_bn(theirs.backbone, theirs.preprocess_image([{"image": bgr[0]}]).tensor)["res4"]
    calibrate_frozen_bn(theirs.roi_heads.res5, features)
    with torch.no_grad():  # spread the predictors so scores and deltas vary
        torch.nn.init.normal_(theirs.roi_heads.box_predictor.cls_score.weight, std=0.02)
        torch.nn.init.normal_(theirs.roi_heads.box_predictor.bbox_pred.weight, std=0.02)
        if mask_on:
            torch.nn.init.normal_(theirs.roi_heads.mask_head.predictor.weight, std=0.01)

    # detectron2's model takes images as given; so does ours here
    ours = build_detector(detector_cfg(**{"MODEL.MASK_ON": mask_on, "INPUT.MIN_SIZE_TEST": 0})).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)

    with torch.no_grad():
        expected = theirs([{"image": b, "height": b.shape[1], "width": b.shape[2]} for b in bgr])
        got = ours(coco_images)
    for exp, out in zip(expected, got):
        inst = exp["instances"]
        assert len(inst) == 100
        assert_same_detections(Instances(inst.pred_boxes.tensor, inst.scores, inst.pred_classes,
                                         inst.pred_masks if mask_on else None), out)
