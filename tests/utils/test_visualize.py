import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from resnet_det.utils.visualize import draw_instances

REPO = Path(__file__).resolve().parents[2]


def test_draws_masks_boxes_and_respects_the_threshold():
    image = np.zeros((40, 60, 3), np.uint8)
    masks = torch.zeros(2, 40, 60, dtype=torch.bool)
    masks[0, 10:20, 10:20] = True
    masks[1, 25:35, 40:50] = True
    boxes = torch.tensor([[10.0, 10, 20, 20], [40, 25, 50, 35]])
    drawn = draw_instances(image, boxes, torch.tensor([0, 1]), ["a", "b"], scores=torch.tensor([0.9, 0.2]), masks=masks,
                           score_threshold=0.5)
    assert drawn[15, 15].any() and not image.any()  # tinted inside the kept mask; input untouched
    assert not drawn[30, 45].any()  # the low-scoring instance is not drawn


def test_tool_writes_prediction_and_ground_truth_pictures(tmp_path):
    subprocess.run([sys.executable, str(REPO / "tools/visualize.py"), "--config", str(REPO / "configs/demo.yaml"),
                    "--num-images", "1", "--out", str(tmp_path), "MODEL.DEVICE", "cpu"], check=True,
                   capture_output=True)
    pictures = sorted(p.name for p in tmp_path.iterdir())
    assert pictures == ["1_gt.png", "1_pred.png"]
    assert cv2.imread(str(tmp_path / "1_gt.png")).shape == (160, 192, 3)
