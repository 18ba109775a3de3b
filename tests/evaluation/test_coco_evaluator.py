import contextlib
import io
import json

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from resnet_det.data.datasets.coco import CocoDetection
from resnet_det.evaluation.coco_evaluator import evaluate_coco, to_coco_results
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
                            shared_data / "coco_mini/val2017", mask_format="bitmask")
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


@pytest.fixture(scope="module")
def perturbed(shared_data):
    """coco_mini val and detections near its ground truth (shifted boxes and masks, random scores)
    plus false positives of random classes, as ImageDetections."""
    from resnet_det.evaluation.coco_evaluator import ImageDetections
    dataset = CocoDetection(shared_data / "coco_mini/annotations/instances_val2017.json",
                            shared_data / "coco_mini/val2017", mask_format="bitmask")
    g = torch.Generator().manual_seed(0)
    detections = []
    for i in range(len(dataset)):
        t = dataset.target(i)
        n, (h, w) = len(t["boxes"]), t["masks"].shape[1:]
        corner = torch.rand(5, 2, generator=g) * 200
        false_positives = torch.cat([corner, corner + 20 + torch.rand(5, 2, generator=g) * 60], dim=1)
        boxes = torch.cat([t["boxes"] + torch.randn(t["boxes"].shape, generator=g) * 4, false_positives])
        masks = torch.cat([t["masks"].roll(3, dims=-1).bool(), torch.zeros(5, h, w, dtype=torch.bool)])
        for k in range(5):
            x1, y1, x2, y2 = boxes[n + k].int().tolist()
            masks[n + k, y1:y2, x1:x2] = True
        labels = torch.cat([t["labels"], torch.randint(0, len(dataset.classes), (5,), generator=g)])
        output = Instances(boxes, torch.rand(n + 5, generator=g), labels, masks)
        detections.append(ImageDetections.from_instances(output, t["image_id"], dataset.category_ids))
    return dataset, detections


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("images_per_chunk", [1, 7, 500])
def test_chunked_cocoeval_equals_one_cocoeval(perturbed, iou_type, images_per_chunk):
    from resnet_det.evaluation.cocoeval_chunked import chunked_cocoeval
    dataset, detections = perturbed
    records = [r for d in detections for r in d.records()]
    if iou_type == "bbox":
        records = [{k: v for k, v in r.items() if k != "segmentation"} for r in records]
    by_image = {}
    for r in records:
        by_image.setdefault(r["image_id"], []).append(dict(r))
    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCOeval(dataset.coco, dataset.coco.loadRes(records), iou_type)
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    ours = chunked_cocoeval(dataset.coco, lambda ids: [r for i in ids for r in by_image.get(i, [])], iou_type,
                            images_per_chunk)
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(ours.eval[key], reference.eval[key]), key
    assert np.array_equal(ours.stats, reference.stats)
    assert 20 < reference.stats[0] * 100 < 95  # perturbed: neither perfect nor broken


def test_evaluator_results_equal_scoring_its_results_file(perturbed, tmp_path):
    from resnet_det.evaluation.coco_evaluator import COCOEvaluator
    dataset, detections = perturbed
    evaluator = COCOEvaluator(dataset.coco, dataset.category_ids, ("bbox", "segm"), tmp_path / "results.json")
    evaluator._detections = list(detections)
    metrics = evaluator.evaluate()
    written = json.loads((tmp_path / "results.json").read_text())
    assert written == [r for d in detections for r in d.records()]
    def same(a, b):  # categories without ground truth have AP NaN, which equals nothing
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert same(evaluate_coco(dataset.coco, written), metrics)
    assert not list(tmp_path.glob(".*.tmp"))
    assert same(evaluator.evaluate(), metrics)  # nothing consumed


def test_an_image_list_without_annotations_gets_its_results_written_and_no_score(tmp_path, caplog):
    from resnet_det.data.loaders.batches import DetectionBatch
    from resnet_det.evaluation.coco_evaluator import COCOEvaluator
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


def test_ground_truth_without_iscrowd_or_area_gets_detectron2_s_defaults(shared_data, tmp_path, caplog):
    """Many converters write neither field; COCOeval reads both. The AP equals that of the file with them."""
    source = shared_data / "coco_mini/annotations/instances_val2017.json"
    data = json.loads(source.read_text())
    data["annotations"] = [a for a in data["annotations"] if not a["iscrowd"]]  # crowds need their flag
    stripped = {**data, "annotations": [{k: v for k, v in a.items() if k not in ("iscrowd", "area")}
                                        for a in data["annotations"]]}
    (tmp_path / "full.json").write_text(json.dumps(data))
    (tmp_path / "stripped.json").write_text(json.dumps(stripped))
    full = CocoDetection(tmp_path / "full.json", shared_data / "coco_mini/val2017", mask_format="bitmask")
    with caplog.at_level("INFO"):
        bare = CocoDetection(tmp_path / "stripped.json", shared_data / "coco_mini/val2017")
    assert f"{len(data['annotations'])} annotations without area, {len(data['annotations'])} annotations without " \
           "iscrowd; detectron2's defaults used" in caplog.text
    areas = {a["id"]: a["area"] for a in data["annotations"]}
    # COCO's own areas are the polygons' (shoelace) areas, as detectron2 computes them.
    assert all(a["area"] == pytest.approx(areas[a["id"]], rel=1e-9) for a in bare.coco.dataset["annotations"])
    detections = _gt_as_detections(full)
    for r in detections[::3]:
        r["bbox"] = [v + 3 for v in r["bbox"]]  # some detections off, so the AP is not trivially 100
    got, want = evaluate_coco(bare.coco, detections), evaluate_coco(full.coco, detections)
    for iou_type in ("bbox", "segm"):  # every number equal (NaN: a category without ground truth)
        assert got[iou_type] == pytest.approx(want[iou_type], nan_ok=True)
