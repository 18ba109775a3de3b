import contextlib
import io
import json

import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from resnet_det.data.coco import CocoDetection
from resnet_det.evaluation.coco import evaluate_coco, to_coco_results
from resnet_det.modeling.detection.structures import Instances


def _gt_as_detections(dataset: CocoDetection) -> list[dict]:
    results = []
    for i in range(len(dataset)):
        _, target = dataset[i]
        n = len(target["boxes"])
        output = Instances(target["boxes"], torch.ones(n), target["labels"], target["masks"].bool())
        results += to_coco_results(output, target["image_id"], dataset.category_ids)
    return results


def test_ground_truth_scores_100_on_real_coco_with_crowds(shared_data):
    dataset = CocoDetection(shared_data / "coco_mini/annotations/instances_val2017.json",
                            shared_data / "coco_mini/val2017")
    metrics = evaluate_coco(dataset.coco, _gt_as_detections(dataset))
    for iou_type in ("bbox", "segm"):
        assert metrics[iou_type]["AP"] == pytest.approx(100.0)
        assert metrics[iou_type]["AP50"] == pytest.approx(100.0)


def _tiny_gt(tmp_path) -> COCO:
    data = {"images": [{"id": 1, "height": 100, "width": 100, "file_name": "a.jpg"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 40, 40], "area": 1600,
                             "iscrowd": 0}],
            "categories": [{"id": 7, "name": "thing"}]}
    (tmp_path / "gt.json").write_text(json.dumps(data))
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(tmp_path / "gt.json"))


@pytest.mark.parametrize("width, expected_ap", [
    (40, 100.0),  # exact: every IoU threshold passes
    (24, 30.0),   # IoU 24/40 = 0.6 passes 0.50, 0.55, 0.60 of the ten thresholds -> 3/10
    (18, 0.0),    # IoU 0.45 < 0.5
])
def test_hand_computed_ap_for_a_shrunk_box(tmp_path, width, expected_ap):
    gt = _tiny_gt(tmp_path)
    output = Instances(torch.tensor([[10.0, 10.0, 10.0 + width, 50.0]]), torch.tensor([0.9]), torch.tensor([0]))
    metrics = evaluate_coco(gt, to_coco_results(output, 1, [7]), iou_types=("bbox",))["bbox"]
    assert metrics["AP"] == pytest.approx(expected_ap, abs=1e-6)
    assert metrics["AP50"] == pytest.approx(100.0 if width >= 20 else 0.0)
    assert metrics["AP-thing"] == pytest.approx(expected_ap, abs=1e-6)


def test_matches_pycocotools_on_perturbed_detections(shared_data):
    dataset = CocoDetection(shared_data / "coco_mini/annotations/instances_val2017.json",
                            shared_data / "coco_mini/val2017", with_masks=False)
    g = torch.Generator().manual_seed(0)
    results = []
    for i in range(len(dataset)):
        _, t = dataset[i]
        boxes = t["boxes"] + torch.randn(t["boxes"].shape, generator=g) * 4
        output = Instances(boxes, torch.rand(len(boxes), generator=g), t["labels"])
        results += to_coco_results(output, t["image_id"], dataset.category_ids)
    ours = evaluate_coco(dataset.coco, results, iou_types=("bbox",))["bbox"]
    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCOeval(dataset.coco, dataset.coco.loadRes(results), "bbox")
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    assert [ours[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")] == pytest.approx(
        [v * 100 for v in reference.stats[:6]])
    assert 20 < ours["AP"] < 95  # perturbed: neither perfect nor broken


def test_an_image_list_without_annotations_gets_its_results_written_and_no_score(tmp_path, caplog):
    from resnet_det.data.batches import DetectionBatch
    from resnet_det.evaluation.coco import COCOEvaluator
    gt = COCO()
    gt.dataset = {"images": [{"id": 1, "height": 100, "width": 100, "file_name": "a.jpg"}],
                  "categories": [{"id": 7, "name": "thing"}]}  # test-dev's image_info files have no annotations
    gt.createIndex()
    evaluator = COCOEvaluator(gt, [7], ("bbox",), tmp_path / "results.json")
    evaluator.process(DetectionBatch([None], [{"image_id": 1}]),
                      [Instances(torch.tensor([[1.0, 2, 30, 40]]), torch.tensor([0.9]), torch.tensor([0]))])
    with caplog.at_level("INFO"):
        assert evaluator.evaluate() == {}
    assert json.loads((tmp_path / "results.json").read_text())[0]["bbox"] == [1.0, 2.0, 29.0, 38.0]
    assert "not scored: the test set has no annotations" in caplog.text
