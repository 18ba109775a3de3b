"""The README's COCO command as a new user types it: the config by name, ImageNet weights by URL
(from a loopback stand-in for detectron2's model store), a COCO-format set of one's own."""
import json
import os
import subprocess
import sys
from pathlib import Path

from resnet_det import build_model

REPO = Path(__file__).resolve().parents[2]
STORE_PATH = "/ImageNetPretrained/MSRA/R-101.pkl"
# A short CPU run of coco_r101.yaml: small images, few proposals and RoIs, fp32.
SMALL = ["MODEL.DEVICE", "cpu", "SOLVER.AMP.ENABLED", "False", "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2",
         "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MAX_SIZE_TRAIN", "192", "INPUT.MIN_SIZE_TEST", "128",
         "INPUT.MAX_SIZE_TEST", "192", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64", "MODEL.RPN.POST_NMS_TOPK_TEST", "32",
         "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32", "DATALOADER.NUM_WORKERS", "0", "TEST.IMS_PER_BATCH", "2"]


def _coco_mini_pair(shared_data: Path, out: Path) -> list[str]:
    """The first two coco_mini val images as a registered training and test set."""
    data = json.loads((shared_data / "coco_mini/annotations/instances_val2017.json").read_text())
    ids = sorted(im["id"] for im in data["images"])[:2]
    subset = {**data, "images": [im for im in data["images"] if im["id"] in ids],
              "annotations": [a for a in data["annotations"] if a["image_id"] in ids]}
    (out / "mini.json").write_text(json.dumps(subset))
    return ["DATASETS.REGISTER", f'[["mini", "{out / "mini.json"}", "{shared_data / "coco_mini/val2017"}"]]',
            "DATASETS.TRAIN", '("mini",)', "DATASETS.TEST", '("mini",)']


def test_coco_r101_by_name_downloads_its_weights_once_trains_and_evaluates(shared_data, tmp_path, http_files,
                                                                          write_msra_pkl):
    # A random R101 in MSRA's caffe2 .pkl form. Zeroed last norms start every residual branch at
    # zero, so the frozen 101-layer trunk stays finite without trained statistics.
    r101 = build_model("resnet101", stride_in_1x1=True, zero_init_last=True).eval()
    http_files.routes[STORE_PATH] = (200, "application/octet-stream",
                                     write_msra_pkl(r101, tmp_path / "R-101.pkl").read_bytes(), None)
    env = {**os.environ, "RESNET_DET_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "2"}
    common = ["MODEL.WEIGHTS", http_files.url + STORE_PATH, *SMALL, *_coco_mini_pair(shared_data, tmp_path)]

    train = subprocess.run([sys.executable, "tools/train_net.py", "--config", "coco_r101.yaml", *common,
                            "OUTPUT_DIR", str(tmp_path / "train")], cwd=REPO, env=env, capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-3000:]
    assert "downloading " + http_files.url + STORE_PATH in train.stderr
    assert "loaded " in train.stderr and "(backbone); initialised from scratch: proposal_generator" in train.stderr
    metrics = json.loads((tmp_path / "train/results.json").read_text())
    assert metrics["iterations"] == 2 and metrics["results"]["mini"]["bbox"]["AP"] is not None
    assert len(list((tmp_path / "cache/downloads").rglob("R-101.pkl"))) == 1

    again = subprocess.run([sys.executable, "tools/train_net.py", "--config", "coco_r101", "--eval-only", *common,
                            "OUTPUT_DIR", str(tmp_path / "eval")], cwd=REPO, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert http_files.requests == [STORE_PATH] and "(cached from" in again.stderr  # no second download
    assert json.loads((tmp_path / "eval/results.json").read_text())["weights"] == http_files.url + STORE_PATH
