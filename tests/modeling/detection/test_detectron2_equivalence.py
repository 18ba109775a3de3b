"""detectron2's R50-C4 Faster/Mask R-CNN with seeded random weights, loaded into ours unchanged,
give the same detections on real COCO images, as given or resized as detectron2 resizes them.
Skips where detectron2 is not importable (install it from source, or put a source checkout on
PYTHONPATH)."""
import pytest
import torch

from resnet_det.data.decode.files import read_rgb
from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.modeling.detection.structures import Instances
from resnet_det.utils.geometry import hwc_to_chw

d2_config = pytest.importorskip("detectron2.config", reason="detectron2 is not installed")
d2_modeling = pytest.importorskip("detectron2.modeling", reason="detectron2 is not installed")
d2_transforms = pytest.importorskip("detectron2.data.transforms", reason="detectron2 is not installed")


def _their_input(image: torch.Tensor, resize: bool) -> dict:
    """detectron2's test input of a uint8 RGB image: BGR, resized by its DefaultPredictor's
    ResizeShortestEdge(800, 1333) when ``resize``, with the original size for its postprocessing."""
    bgr = image.flip(0).permute(1, 2, 0).numpy()
    if resize:
        bgr = d2_transforms.ResizeShortestEdge(800, 1333).get_transform(bgr).apply_image(bgr)
    return {"image": torch.as_tensor(bgr.transpose(2, 0, 1).astype("float32")), "height": image.shape[1],
            "width": image.shape[2]}


@pytest.mark.parametrize("resize", [False, True], ids=["as-given", "resized-800"])
@pytest.mark.parametrize("mask_on", [False, True], ids=["faster", "mask"])
def test_same_detections_as_detectron2(shared_data, calibrate_frozen_bn, assert_same_detections, detector_cfg,
                                       mask_on, resize):
    images = [hwc_to_chw(read_rgb(p)) for p in sorted((shared_data / "coco_mini" / "val2017").glob("*.jpg"))[:3]]
    torch.manual_seed(0)
    name = ("COCO-InstanceSegmentation/mask_rcnn_R_50_C4_3x.yaml" if mask_on
            else "COCO-Detection/faster_rcnn_R_50_C4_3x.yaml")
    cfg = d2_config.get_cfg()
    cfg.merge_from_file(d2_config.get_cfg.__globals__["__file__"].rsplit("/detectron2/", 1)[0] + "/configs/" + name)
    cfg.MODEL.DEVICE = "cpu"
    theirs = d2_modeling.build_model(cfg).eval()
    inputs = [_their_input(im, resize) for im in images]
    features = calibrate_frozen_bn(theirs.backbone, theirs.preprocess_image(inputs[:1]).tensor)["res4"]
    calibrate_frozen_bn(theirs.roi_heads.res5, features)
    with torch.no_grad():  # spread the predictors so scores and deltas vary
        torch.nn.init.normal_(theirs.roi_heads.box_predictor.cls_score.weight, std=0.02)
        torch.nn.init.normal_(theirs.roi_heads.box_predictor.bbox_pred.weight, std=0.01)
        if mask_on:
            # decisive masks: probabilities near 0.5 everywhere would leave every pixel to rounding
            torch.nn.init.normal_(theirs.roi_heads.mask_head.predictor.weight, std=0.1)

    # Ours resizes inside the model, with detectron2's PIL resize, or not at all
    ours = build_detector(detector_cfg(**{"MODEL.MASK_ON": mask_on, "INPUT.MIN_SIZE_TEST": 800 if resize else 0,
                                          "INPUT.RESIZE": "pil"})).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)

    with torch.no_grad():
        expected = theirs(inputs)
        got = ours(images)
    for exp, out in zip(expected, got):
        inst = exp["instances"]
        assert len(inst) == 100
        assert_same_detections(Instances(inst.pred_boxes.tensor, inst.scores, inst.pred_classes,
                                         inst.pred_masks if mask_on else None), out)
