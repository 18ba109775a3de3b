import logging
import pickle

import numpy as np
import pytest
import torch
import torchvision

from resnet_det import build_model
from resnet_det.modeling.detection.detector_weights import CLASS_PREDICTORS, load_detector_weights
from resnet_det.modeling.detection.rcnn import build_detector
from resnet_det.utils.complexity import count_parameters
from resnet_det.utils.syncs import HostSyncCounter
from resnet_det.weights import Weights, WeightsMismatchError, save_weights

# detectron2's own counts for its COCO C4 configs (80 classes), measured with detectron2 from source:
# sum(p.numel() for p in build_model(cfg).parameters()).
DETECTRON2_PARAMS = {(50, False): 33_791_644, (101, False): 52_731_548, (50, True): 35_909_612,
                     (101, True): 54_849_516}


@pytest.fixture
def tiny_cfg(detector_cfg):
    def make(depth=18, mask_on=False, **overrides):
        # Fewer proposals and RoIs than detectron2's defaults: the res5 head runs once per RoI on the CPU.
        return detector_cfg(**{"MODEL.RESNETS.DEPTH": depth, "MODEL.MASK_ON": mask_on, "MODEL.ROI_HEADS.NUM_CLASSES": 3,
                               "INPUT.MIN_SIZE_TEST": 96, "MODEL.RPN.POST_NMS_TOPK_TRAIN": 200,
                               "MODEL.RPN.POST_NMS_TOPK_TEST": 200, "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE": 64,
                               **overrides})
    return make


def _batch():
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 90, 120), dtype=torch.uint8, generator=g),
              torch.randint(0, 256, (3, 80, 100), dtype=torch.uint8, generator=g)]
    masks = torch.zeros(2, 90, 120, dtype=torch.uint8)
    masks[0, 10:50, 20:80] = 1
    masks[1, 40:85, 60:110] = 1
    # Trained at a shorter side of 96, as the loader would draw it from INPUT.MIN_SIZE_TRAIN.
    targets = [{"boxes": torch.tensor([[20.0, 10, 80, 50], [60, 40, 110, 85]]), "labels": torch.tensor([0, 2]),
                "masks": masks, "short_side": 96},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
                "masks": torch.zeros(0, 80, 100, dtype=torch.uint8), "short_side": 96}]  # an image with no objects
    return images, targets


@pytest.mark.parametrize("depth, mask_on", [(18, False), (18, True), (50, False), (50, True)])
def test_losses_and_outputs(depth, mask_on, tiny_cfg):
    model = build_detector(tiny_cfg(depth, mask_on, **{"MODEL.RESNETS.NORM": "GN"}))
    images, targets = _batch()
    losses = model.train()(images, targets)
    expected = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"} | ({"loss_mask"} if mask_on else set())
    assert set(losses) == expected and all(v.isfinite() for v in losses.values())
    sum(losses.values()).backward()
    assert model.roi_heads.res5[0].conv1.weight.grad.abs().sum() > 0
    assert model.backbone.stem.conv1.weight.grad is None  # frozen at 2: stem and res2

    model.eval()
    with torch.no_grad():
        outputs = model(images)
    for image, out in zip(images, outputs):
        h, w = image.shape[-2:]
        n = len(out.boxes)
        assert 0 < n <= 100 and out.labels.max() < 3
        assert (out.boxes[:, 0::2] <= w).all() and (out.boxes[:, 1::2] <= h).all() and (out.boxes >= 0).all()
        assert torch.all(out.scores[:-1] >= out.scores[1:]) and (out.scores > 0.05).all()
        if mask_on:
            assert out.masks.shape == (n, h, w) and out.masks.dtype == torch.bool


def test_batched_inference_matches_single_image_for_the_unpadded_image(tiny_cfg):
    model = build_detector(tiny_cfg(18, True, **{"MODEL.RESNETS.NORM": "GN"})).eval()
    images, _ = _batch()
    with torch.no_grad():
        batched, single = model(images)[0], model(images[:1])[0]
    assert torch.allclose(batched.boxes, single.boxes, atol=1e-3)
    # Convolutions pick other algorithms for another batch size; a few edge pixels may flip.
    assert (batched.masks ^ single.masks).sum() <= 1e-3 * single.masks.numel()


def _as_polygons(target: dict) -> dict:
    """``target`` with each instance's mask given as the polygon of its box (INPUT.MASK_FORMAT polygon)."""
    polygons = [[np.array([x1, y1, x2, y1, x2, y2, x1, y2])] for x1, y1, x2, y2 in target["boxes"].tolist()]
    return {**{k: v for k, v in target.items() if k != "masks"}, "polygons": polygons}


@pytest.mark.parametrize("num_images", [2, 4])
@pytest.mark.parametrize("polygons", [False, True], ids=["bitmask", "polygon"])
def test_training_reads_the_device_at_most_three_times_per_image(num_images, polygons, tiny_cfg):
    # RPN: the size filter and NMS; RoI head: its sample. Per batch: the finite check, the mask loss,
    # and for polygons one read of the foreground RoIs, which the host rasterises.
    model = build_detector(tiny_cfg(18, True, **{"MODEL.RESNETS.NORM": "GN"})).train()
    images, targets = _batch()
    if polygons:
        targets = [_as_polygons(t) for t in targets]
    images, targets = images * (num_images // 2), targets * (num_images // 2)
    with HostSyncCounter() as syncs:
        losses = model(images, targets)
        sum(losses.values()).backward()
    assert losses["loss_mask"] > 0
    assert syncs.total <= 3 * num_images + 2 + polygons, syncs.by_op


@pytest.mark.parametrize("depth, mask_on", list(DETECTRON2_PARAMS))
def test_parameter_counts_equal_detectron2(depth, mask_on, tiny_cfg):
    model = build_detector(tiny_cfg(depth, mask_on, **{"MODEL.ROI_HEADS.NUM_CLASSES": 80}))
    assert count_parameters(model) == DETECTRON2_PARAMS[(depth, mask_on)]


@pytest.mark.parametrize("depth", [18, 50])
def test_imagenet_checkpoint_initialises_trunk_and_res5(tmp_path, depth, tiny_cfg):
    classifier = build_model(f"resnet{depth}", stride_in_1x1=True, norm="FrozenBN").eval()
    for name, buf in classifier.named_buffers():
        if "norm" in name and ("running_var" in name or "weight" in name):
            buf.uniform_(0.5, 1.0)
    save_weights(Weights(classifier.state_dict(), "caffe", f"resnet{depth}"), tmp_path / "cls.pth")
    detector = build_detector(tiny_cfg(depth)).eval()
    report = load_detector_weights(detector, tmp_path / "cls.pth")
    assert all(k.startswith(("proposal_generator.", "roi_heads.box_predictor.")) for k in report.missing)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ours = detector.backbone(x)["res4"]
        theirs = build_model(f"resnet{depth}", stride_in_1x1=True, norm="FrozenBN", out_features=["res4"],
                             num_classes=0)
        theirs.load_state_dict({k: v for k, v in classifier.state_dict().items()
                                if not k.startswith(("res5", "linear"))})
        assert torch.equal(ours, theirs.eval()(x)["res4"])
    assert torch.equal(detector.roi_heads.res5[0].conv2.weight, classifier.res5[0].conv2.weight)


def test_torchvision_weights_need_the_torchvision_style(tmp_path, tiny_cfg):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "tv.pth")
    with pytest.raises(WeightsMismatchError, match="torchvision-style weights"):
        load_detector_weights(build_detector(tiny_cfg(18)), tmp_path / "tv.pth")
    load_detector_weights(build_detector(tiny_cfg(18, **{"MODEL.WEIGHT_STYLE": "torchvision"})), tmp_path / "tv.pth")


def test_detectron2_detector_checkpoint_loads_and_misfits_are_reported(tmp_path, tiny_cfg):
    source = build_detector(tiny_cfg(18, True))
    payload = {"model": {k: v.numpy() for k, v in source.state_dict().items()}, "__author__": "Detectron2 Model Zoo"}
    (tmp_path / "model_final.pkl").write_bytes(pickle.dumps(payload))
    target = build_detector(tiny_cfg(18, True))
    assert load_detector_weights(target, tmp_path / "model_final.pkl").ok
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in source.state_dict().items())
    with pytest.raises(WeightsMismatchError, match="roi_heads.box_predictor.cls_score.weight: model \\(11, 512\\)"):
        load_detector_weights(build_detector(tiny_cfg(18, True, **{"MODEL.ROI_HEADS.NUM_CLASSES": 10})),
                              tmp_path / "model_final.pkl", strict=True)
    with pytest.raises(WeightsMismatchError, match="missing in checkpoint"):
        load_detector_weights(build_detector(tiny_cfg(50, True)), tmp_path / "model_final.pkl")


def test_fine_tuning_loads_an_80_class_detector_into_a_3_class_one(tmp_path, tiny_cfg, caplog):
    coco = build_detector(tiny_cfg(18, True, **{"MODEL.ROI_HEADS.NUM_CLASSES": 80}))
    save_weights(Weights(coco.state_dict(), "caffe", "c4_r18"), tmp_path / "coco.pth")
    ours = build_detector(tiny_cfg(18, True))  # 3 classes
    fresh = {k: v.clone() for k, v in ours.state_dict().items()}
    with caplog.at_level(logging.WARNING):
        report = load_detector_weights(ours, tmp_path / "coco.pth")
    predictors = [k for k in fresh if k.startswith(CLASS_PREDICTORS)]
    assert sorted(report.missing) == sorted(predictors) and len(predictors) == 6  # cls, box and mask predictors
    for key, value in ours.state_dict().items():
        expected = fresh[key] if key in predictors else coco.state_dict()[key]
        assert torch.equal(value, expected), key
    assert all(f"skipping {k}" in caplog.text for k in predictors) and "other classes" in caplog.text


def test_bf16_detections_agree_with_fp32(tiny_cfg):
    model = build_detector(tiny_cfg(18, True, **{"MODEL.RESNETS.NORM": "GN"})).eval()
    images, _ = _batch()
    with torch.no_grad():
        fp32 = model(images[:1])[0]
        model.bf16 = True
        bf16 = model(images[:1])[0]
    # bf16 keeps 8 bits of mantissa: top scores agree to 2%, and the top-20 boxes are found again.
    assert bf16.scores[0].item() == pytest.approx(fp32.scores[0].item(), rel=0.02)
    iou = torchvision.ops.box_iou(fp32.boxes[:20], bf16.boxes)
    assert (iou.max(dim=1).values > 0.9).float().mean() >= 0.9


def test_bf16_keeps_roi_boxes_in_float32(monkeypatch, tiny_cfg):
    from resnet_det.modeling.detection import poolers

    seen = []
    real = poolers.roi_align
    monkeypatch.setattr(poolers, "roi_align", lambda x, boxes, *a, **k: seen.append(boxes[0].dtype) or
                        real(x, boxes, *a, **k))
    model = build_detector(tiny_cfg(18, **{"MODEL.RESNETS.NORM": "GN", "SOLVER.AMP.ENABLED": True})).eval()
    with torch.no_grad():
        model(_batch()[0][:1])
    assert seen and all(dtype == torch.float32 for dtype in seen)


@pytest.mark.parametrize("pooler, reference", [
    ("ROIAlignV2", lambda x, b: torchvision.ops.roi_align(x, b, 14, 1 / 16, sampling_ratio=0, aligned=True)),
    ("ROIAlign", lambda x, b: torchvision.ops.roi_align(x, b, 14, 1 / 16, sampling_ratio=2, aligned=False)),
    ("ROIPool", lambda x, b: torchvision.ops.roi_pool(x, b, 14, 1 / 16))])
def test_pooler_type_picks_the_pooling(pooler, reference, tiny_cfg):
    sampling = 2 if pooler == "ROIAlign" else 0
    model = build_detector(tiny_cfg(**{"MODEL.ROI_BOX_HEAD.POOLER_TYPE": pooler,
                                       "MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO": sampling})).eval()
    features = torch.randn(1, 256, 12, 15)
    boxes = [torch.tensor([[3.0, 5, 90, 70], [40.5, 10.25, 60, 33]])]
    with torch.no_grad():
        expected = model.roi_heads.res5(reference(features, boxes))
        assert torch.equal(model.roi_heads.pooled_res5(features, boxes), expected)


def test_an_unknown_pooler_is_refused(tiny_cfg):
    with pytest.raises(ValueError, match="POOLER_TYPE must be one of"):
        build_detector(tiny_cfg(**{"MODEL.ROI_BOX_HEAD.POOLER_TYPE": "RoIWarp"}))


def test_shortcut_and_zero_init_last_reach_the_trunk_and_the_res5_head(tiny_cfg):
    model = build_detector(tiny_cfg(**{"MODEL.RESNETS.SHORTCUT": "C", "MODEL.RESNETS.ZERO_INIT_LAST": True,
                                       "MODEL.RESNETS.NORM": "GN"}))
    blocks = [*model.backbone.res2, *model.backbone.res3, *model.backbone.res4, *model.roi_heads.res5]
    assert all(isinstance(b.shortcut, torch.nn.Module) and hasattr(b.shortcut, "weight") for b in blocks)  # option C
    assert all(not b.conv2.norm.weight.any() for b in blocks)  # basic blocks: conv2 is the last
    default = build_detector(tiny_cfg(**{"MODEL.RESNETS.NORM": "GN"}))
    assert not hasattr(default.backbone.res2[1].shortcut, "weight") and default.backbone.res2[1].conv2.norm.weight.all()
