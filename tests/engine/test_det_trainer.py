import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_det.config import load_config
from resnet_det.data.datasets.voc import VOC_CLASSES
from resnet_det.data.decode.files import ImageDecodeError
from resnet_det.weights import load_weights

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def coco4(shared_data, tmp_path):
    """The first 4 coco128 images as a COCO-format dataset of their own."""
    data = json.loads((shared_data / "coco128/annotations/instances_train2017.json").read_text())
    ids = sorted(im["id"] for im in data["images"])[:4]
    subset = {"images": [im for im in data["images"] if im["id"] in ids],
              "annotations": [a for a in data["annotations"] if a["image_id"] in ids],
              "categories": data["categories"]}
    path = tmp_path / "coco4.json"
    path.write_text(json.dumps(subset))
    return ["DATASETS.REGISTER", f'[["coco4", "{path}", "{shared_data / "coco128/train2017"}"]]',
            "DATASETS.TRAIN", '("coco4",)', "DATASETS.TEST", '("coco4",)', "MODEL.ROI_HEADS.NUM_CLASSES", "80"]


def test_coco_images_train_and_evaluate_end_to_end(coco4, tmp_path, small_trainer):
    # After 4 steps from scratch no class clears the 0.05 default, so keep every detection.
    trainer = small_trainer("det", tmp_path, *coco4, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0")
    metrics = trainer.train()
    saved = json.loads((tmp_path / "results.json").read_text())["results"]
    assert set(saved["coco4"]) == {"bbox", "segm"}
    assert _summary(saved["coco4"]["bbox"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert any(k.startswith("AP-") for k in saved["coco4"]["segm"])  # per category
    assert metrics["iterations"] == 4
    detections = json.loads((tmp_path / "inference/coco4/coco_instances_results.json").read_text())
    assert detections and {"image_id", "category_id", "bbox", "score", "segmentation"} <= detections[0].keys()
    log = [json.loads(line) for line in (tmp_path / "metrics.json").read_text().splitlines()]
    assert {"loss_rpn_cls", "loss_mask", "lr"} <= log[0].keys()


def _summary(metrics: dict) -> set[str]:
    return {k for k in metrics if "-" not in k}


def test_two_process_gloo_run_trains_and_evaluates(coco4, tmp_path, small_run_args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    "tools/train_net.py", *small_run_args("det"), "OUTPUT_DIR", str(tmp_path), *coco4],
                   cwd=REPO, env=env, check=True, capture_output=True)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["results"]["coco4"]["bbox"]["AP"] is not None and saved["iterations"] == 4


@pytest.mark.parametrize("name, depth, mask_on, style", [
    ("coco_r50", 50, False, "caffe"), ("coco_r101", 101, False, "caffe"), ("coco_mask_r101", 101, True, "caffe"),
    ("coco_r101_paper", 101, False, "caffe"), ("voc0712_r101", 101, False, "caffe"),
    ("voc0712_r101_paper", 101, False, "caffe"), ("coco128_overfit_r50", 50, True, "torchvision")])
def test_coco_configs_build_the_described_detector(name, depth, mask_on, style):
    from resnet_det import build_detector
    cfg = load_config(f"configs/{name}.yaml")
    model = build_detector(cfg)
    assert len(model.backbone.res4) == {50: 6, 101: 23}[depth] and (model.roi_heads.mask_head is not None) == mask_on
    assert model.weight_style == style
    # caffe-style weights put the stride in the 1x1 (MSRA's models), torchvision's in the 3x3.
    assert model.backbone.res3[0].conv1.stride == ((2, 2) if style == "caffe" else (1, 1))


def test_voc_07_plus_12_trains_and_reports_voc_ap(shared_data, tmp_path, small_trainer):
    trainer = small_trainer("det", tmp_path, "DATASETS.ROOT", str(shared_data), "MODEL.ROI_HEADS.NUM_CLASSES", "20",
                            "DATASETS.TRAIN", '("voc_2007_trainval", "voc_2012_trainval")',
                            "DATASETS.TEST", '("voc_2007_test",)', "MODEL.MASK_ON", "False",
                            "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0")
    metrics = trainer.train()["results"]["voc_2007_test"]
    assert _summary(metrics["bbox"]) == {"AP", "AP50", "AP75"} and 0 <= metrics["bbox"]["AP50"] <= 100
    assert {k.removeprefix("AP50-") for k in metrics["bbox"] if "-" in k} == set(VOC_CLASSES)
    assert len(trainer.train_loader.samples) == 10  # 5 VOC2007 + 5 VOC2012 images


def test_a_corrupt_image_neither_stops_training_nor_leaves_evaluation(tmp_path, tiny_coco, caplog, small_trainer):
    json_file = tiny_coco(tmp_path, [{"image_id": i, "bbox": [5, 5, 20, 20]} for i in range(1, 5)], n_images=4)
    (tmp_path / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))  # a PNG signature, then nothing usable
    data = ["DATASETS.REGISTER", f'[["tiny", "{json_file}", "{tmp_path}"]]', "DATASETS.TRAIN", '("tiny",)',
            "DATASETS.TEST", '("tiny",)', "MODEL.ROI_HEADS.NUM_CLASSES", "1", "MODEL.MASK_ON", "False",
            "INPUT.MIN_SIZE_TRAIN", "(40,)", "INPUT.MIN_SIZE_TEST", "40"]
    with caplog.at_level(logging.WARNING):
        metrics = small_trainer("det", tmp_path / "out", *data).train()
    assert "AP" in metrics["results"]["tiny"]["bbox"] and (tmp_path / "out/model_final.pth").is_file()
    assert load_weights(tmp_path / "out/model_final.pth").classes == ("thing",)  # recorded for the predictor
    # The results file scores again, without the model, to the same AP.
    results = tmp_path / "out/inference/tiny/coco_instances_results.json"
    subprocess.run([sys.executable, "tools/evaluate_results.py", "--dataset", "tiny", "--results", str(results),
                    "--out", str(tmp_path / "rescored.json"), "DATASETS.REGISTER", data[1]], cwd=REPO, check=True)
    rescored = json.loads((tmp_path / "rescored.json").read_text())["tiny"]["bbox"]
    assert rescored == metrics["results"]["tiny"]["bbox"]
    assert "skipping training image" in caplog.text and "evaluating without image" in caplog.text
    assert "3.png" in caplog.text
    with pytest.raises(ImageDecodeError, match="3.png"):
        small_trainer("det", tmp_path / "fail", *data, "DATALOADER.ON_BAD_IMAGE", "fail").train()


@pytest.mark.parametrize("overrides, error, match", [
    (["MODEL.ROI_HEADS.NUM_CLASSES", "3"], ValueError, "coco4 has 80 classes but MODEL.ROI_HEADS.NUM_CLASSES is 3"),
    (["DATASETS.TEST", '("coco4", "coco_4")'], KeyError, "unknown dataset 'coco_4'"),
])
def test_a_wrong_dataset_setting_stops_before_the_first_iteration(coco4, tmp_path, small_trainer, monkeypatch,
                                                                   overrides, error, match):
    trainer = small_trainer("det", tmp_path, *coco4, *overrides)
    monkeypatch.setattr(trainer, "run_step", lambda: pytest.fail("training started"))
    with pytest.raises(error, match=match):
        trainer.train()
    assert not list(tmp_path.glob("*.pth"))


def test_eval_only_needs_weights_and_writes_its_results(coco4, tmp_path, small_trainer, small_run_args, caplog):
    from resnet_det.engine.det_trainer import DetectionTrainer
    from resnet_det.engine.launch import run
    small_trainer("det", tmp_path / "train", *coco4, "SOLVER.MAX_ITER", "1").train()
    args = ["--eval-only", *small_run_args("det"), *coco4]
    with caplog.at_level("ERROR"):  # a user error: one line and exit status 1
        assert run(DetectionTrainer, "", [*args, "OUTPUT_DIR", str(tmp_path / "none")]) == 1
    assert "ConfigValueError: evaluation needs weights: set MODEL.WEIGHTS" in caplog.text
    weights = str(tmp_path / "train" / "model_final.pth")
    run(DetectionTrainer, "", [*args, "OUTPUT_DIR", str(tmp_path / "eval"), "MODEL.WEIGHTS", weights])
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert saved["weights"] == weights and set(saved["results"]["coco4"]) == {"bbox", "segm"}
    assert "coco4" in (tmp_path / "eval" / "config.yaml").read_text()
