"""The detectron2 plugin inside detectron2. Skips where detectron2 is not importable (install it
from source, or put a checkout on PYTHONPATH); test_import.py runs everywhere."""
from pathlib import Path

import pytest
import torch

from resnet_det import build_model
from resnet_det.modeling.detection.structures import Instances
from resnet_det.weights import Weights, save_weights

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "detectron2"


d2_config = pytest.importorskip("detectron2.config", reason="detectron2 is not installed")
d2_modeling = pytest.importorskip("detectron2.modeling", reason="detectron2 is not installed")
plugin = pytest.importorskip("resnet_det.detectron2")

CHANNELS = {18: (64, 64, 128, 256, 512), 34: (64, 64, 128, 256, 512), 50: (64, 256, 512, 1024, 2048),
            101: (64, 256, 512, 1024, 2048), 152: (64, 256, 512, 1024, 2048)}


def _cfg(config: str = "mask_rcnn_R_50_C4_3x.yaml", *overrides):
    cfg = plugin.add_resnet_det_config(d2_config.get_cfg())
    cfg.merge_from_file(str(REPO_CONFIGS / config))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", *overrides])
    return cfg


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_backbone_output_shape(depth):
    names = ["stem", "res2", "res3", "res4", "res5"]
    cfg = _cfg(f"faster_rcnn_R_{depth}_C4_3x.yaml", "MODEL.RESNET_DET.OUT_FEATURES", names)
    backbone = d2_modeling.build_backbone(cfg)
    shapes = backbone.output_shape()
    assert [(s.channels, s.stride) for s in shapes.values()] == list(zip(CHANNELS[depth], (4, 4, 8, 16, 32)))
    out = backbone(torch.zeros(1, 3, 64, 96))
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == {
        k: (s.channels, 64 // s.stride, 96 // s.stride) for k, s in shapes.items()}
    # The C4 model built from the same file: res4 feeds the RPN, res5 (right block type) the RoIs.
    model = d2_modeling.build_model(_cfg(f"mask_rcnn_R_{depth}_C4_3x.yaml"))
    assert list(model.backbone.output_shape()) == ["res4"]
    assert model.roi_heads.res5[-1].conv1.weight.shape[1] == CHANNELS[depth][-1]
    assert type(model.roi_heads.res5[0]).__name__ == ("BasicBlock" if depth < 50 else "BottleneckBlock")


@pytest.mark.parametrize("depth", [18, 50])
def test_our_imagenet_checkpoint_loads_into_backbone_and_res5(tmp_path, depth):
    from detectron2.checkpoint import DetectionCheckpointer
    classifier = build_model(f"resnet{depth}", stride_in_1x1=True)
    with torch.no_grad():
        for t in classifier.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5)  # every tensor distinct from any initialisation
    path = save_weights(Weights(classifier.state_dict(), "caffe", f"resnet{depth}"), tmp_path / "r.pkl", "detectron2")
    model = d2_modeling.build_model(_cfg(f"mask_rcnn_R_{depth}_C4_3x.yaml"))
    DetectionCheckpointer(model).load(str(path))
    loaded = model.state_dict()
    exported = {k: v for k, v in classifier.state_dict().items()
                if not k.startswith("linear.") and not k.endswith("num_batches_tracked")}
    # Every exported tensor landed in the backbone (stem..res4) or the res5 head, unchanged...
    for key, value in exported.items():
        target = ("roi_heads." if key.startswith("res5.") else "backbone.") + key
        assert torch.equal(loaded[target], value), target
    # ...and every backbone and res5 tensor of the model came from the checkpoint.
    trunk = [k for k in loaded if k.startswith(("backbone.", "roi_heads.res5."))]
    assert sorted(k.split(".", 1)[1] for k in trunk) == sorted(exported)


def test_same_outputs_as_stock_detectron2(coco_images, calibrate_frozen_bn, assert_same_detections):
    torch.manual_seed(0)
    stock_cfg = d2_config.get_cfg()  # detectron2's defaults are its R50-C4
    stock_cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.MASK_ON", True])
    stock = d2_modeling.build_model(stock_cfg).eval()
    bgr = [im.flip(0).float() for im in coco_images]
    features = calibrate_frozen_bn(stock.backbone, stock.preprocess_image([{"image": bgr[0]}]).tensor)["res4"]
    calibrate_frozen_bn(stock.roi_heads.res5, features)
    with torch.no_grad():
        torch.nn.init.normal_(stock.roi_heads.box_predictor.cls_score.weight, std=0.02)
        torch.nn.init.normal_(stock.roi_heads.box_predictor.bbox_pred.weight, std=0.02)
        # Spread mask logits away from 0, where rounding alone would flip pixels across the threshold.
        torch.nn.init.normal_(stock.roi_heads.mask_head.predictor.weight, std=0.01)
    ours = d2_modeling.build_model(_cfg("mask_rcnn_R_50_C4_3x.yaml")).eval()
    ours.load_state_dict(stock.state_dict(), strict=True)
    inputs = [{"image": b, "height": b.shape[1], "width": b.shape[2]} for b in bgr]
    with torch.no_grad():
        expected, got = stock(inputs), ours(inputs)
    for exp, out in zip(expected, got):
        assert len(exp["instances"]) == 100
        # Our convolutions fold the frozen norms, so equal up to float rounding, not bit for bit.
        assert_same_detections(*(Instances(i.pred_boxes.tensor, i.scores, i.pred_classes, i.pred_masks)
                                 for i in (exp["instances"], out["instances"])))


@pytest.mark.parametrize("depth", [18, 50])
def test_default_trainer_trains_and_coco_evaluator_evaluates(tmp_path, depth):
    from detectron2.engine import DefaultTrainer
    from detectron2.evaluation import COCOEvaluator

    plugin.register_in_detectron2("shapes_det_train", "shapes_det_val")
    # The shapes' masks are exact RLE, hence bitmask. From scratch with GroupNorm (no ImageNet weights
    # offline), small images and few RoIs for a CPU.
    cfg = _cfg(f"mask_rcnn_R_{depth}_C4_3x.yaml",
               "MODEL.RESNET_DET.WEIGHT_STYLE", "torchvision", "MODEL.RESNET_DET.NORM", "GN",
               "MODEL.BACKBONE.FREEZE_AT", 0, "INPUT.FORMAT", "RGB", "INPUT.MASK_FORMAT", "bitmask",
               "MODEL.PIXEL_MEAN", [123.675, 116.28, 103.53], "MODEL.PIXEL_STD", [58.395, 57.12, 57.375],
               "MODEL.ROI_HEADS.NUM_CLASSES", 3, "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 64,
               "MODEL.RPN.POST_NMS_TOPK_TRAIN", 200, "MODEL.RPN.POST_NMS_TOPK_TEST", 50,
               "MODEL.ROI_HEADS.SCORE_THRESH_TEST", -1.0,  # 20 iterations from scratch score ~0: keep all
               "MODEL.ANCHOR_GENERATOR.SIZES", [[16, 32, 64, 128]],
               "DATASETS.TRAIN", ("shapes_det_train",), "DATASETS.TEST", ("shapes_det_val",),
               "INPUT.MIN_SIZE_TRAIN", (128,), "INPUT.MAX_SIZE_TRAIN", 256, "INPUT.MIN_SIZE_TEST", 128,
               "INPUT.MAX_SIZE_TEST", 256, "SOLVER.IMS_PER_BATCH", 2, "SOLVER.BASE_LR", 0.01,
               "SOLVER.MAX_ITER", 20, "SOLVER.STEPS", (), "SOLVER.WARMUP_ITERS", 5,
               "SOLVER.CHECKPOINT_PERIOD", 1000, "DATALOADER.NUM_WORKERS", 0, "OUTPUT_DIR", str(tmp_path))
    trainer = DefaultTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert trainer.iter == 20 and (tmp_path / "model_final.pth").is_file()
    losses = [v for v, _ in trainer.storage.history("total_loss").values()]
    assert len(losses) == 20 and torch.isfinite(torch.tensor(losses)).all()
    evaluator = COCOEvaluator("shapes_det_val", output_dir=str(tmp_path / "eval"), use_fast_impl=False)
    results = DefaultTrainer.test(cfg, trainer.model, [evaluator])
    for task in ("bbox", "segm"):
        assert 0 <= results[task]["AP"] <= 100 and set(results[task]) >= {"AP", "AP50", "AP75"}


def test_detection_benchmark_measures_detectron2_beside_us(tmp_path):
    import json
    import subprocess
    import sys

    import detectron2
    configs = Path(detectron2.__file__).resolve().parents[1] / "configs"
    if not (configs / "COCO-Detection/faster_rcnn_R_50_C4_3x.yaml").is_file():
        pytest.skip(f"detectron2's configs/ folder not found beside its package ({configs})")
    out = tmp_path / "det.json"
    stdout = subprocess.run([sys.executable, "tools/benchmark.py", "det", "--device", "cpu", "--depth", "50",
                             "--height", "96", "--width", "128", "--train-batch", "2", "--infer-batches", "1",
                             "--iters", "1", "--warmup", "1", "--precision", "fp32",
                             "--detectron2-configs", str(configs),
                             "--json", str(out)], cwd=REPO_CONFIGS.parents[1], check=True, capture_output=True,
                            text=True).stdout
    rows = json.loads(out.read_text())["rows"]
    assert {(r["impl"], r["mode"]) for r in rows} == {(i, m) for i in ("resnet_det", "detectron2")
                                                      for m in ("train", "infer")}
    assert "ours/peer" in stdout
