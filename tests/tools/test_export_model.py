import json

import numpy as np
import pytest
import torch

from resnet_det.data.decode.files import read_rgb
from resnet_det.inference.export import Tolerance, detection_disagreements, outputs_to_instances

onnxruntime = pytest.importorskip("onnxruntime", reason="the ONNX checks need the [onnx] extra")


@pytest.fixture
def export(tool):
    return tool("export_model")


def _onnx_run(path, x: np.ndarray) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def test_detector_exports_agree_with_eager_on_coco_images(export, demo_weights, shared_data, tmp_path):
    images = sorted((shared_data / "coco_mini/val2017").glob("*.jpg"))
    out = tmp_path / "out"
    args = ["--config", "demo", "--weights", str(demo_weights("det")), "--output", str(out), "--size", "96", "128",
            "--check-images", *map(str, images[:2])]
    assert export.main(args) == 0
    report = json.loads((out / "export.json").read_text())
    assert report["outputs"] == ["boxes", "scores", "labels", "masks"] and report["input"]["shape"] == [1, 3, 96, 128]
    assert set(report["checks"]) == {"torch", "onnx"} and report["checks"]["onnx"]["checked_inputs"] == 3
    # An image the checks did not see, run here through each file as a user would.
    import cv2
    x = torch.from_numpy(cv2.resize(read_rgb(images[2]), (128, 96))).permute(2, 0, 1)[None].contiguous()
    predictor = export.Predictor("demo", demo_weights("det"), device="cpu")
    with torch.no_grad():
        eager = outputs_to_instances(export.ExportableDetector(predictor.model)(x))
        program = outputs_to_instances(torch.export.load(out / "model.pt2").module()(x))
    onnx = outputs_to_instances(_onnx_run(out / "model.onnx", x.numpy()))
    assert len(eager) > 0 and torch.equal(program.labels, eager.labels)
    assert torch.allclose(program.boxes, eager.boxes, atol=1e-4) and torch.equal(program.masks, eager.masks)
    assert detection_disagreements(eager, onnx, predictor.cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST, Tolerance()) == []


def test_classifier_exports_take_any_batch_size(export, demo_weights, shared_data, tmp_path):
    images = sorted((shared_data / "coco_mini/val2017").glob("*.jpg"))[:3]
    out = tmp_path / "out"
    args = ["--config", "demo_cls", "--weights", str(demo_weights("cls")), "--output", str(out),
            "--check-images", *map(str, images)]
    assert export.main(args) == 0
    predictor = export.Predictor("demo_cls", demo_weights("cls"), device="cpu")
    batch = torch.randint(0, 255, (5, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        eager = export.ExportableClassifier(predictor.model, predictor.normalize)(batch)
        program = torch.export.load(out / "model.pt2").module()(batch)
    onnx = torch.from_numpy(_onnx_run(out / "model.onnx", batch.numpy())[0])
    assert program.shape == (5, 10) and torch.allclose(program, eager, atol=1e-6)
    assert torch.allclose(onnx, eager, atol=Tolerance().prob_atol)


def test_an_export_that_disagrees_is_not_written(export, demo_weights, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "Tolerance", lambda: Tolerance(prob_atol=-1.0))  # nothing can agree
    args = ["--config", "demo_cls", "--weights", str(demo_weights("cls")), "--output", str(tmp_path),
            "--format", "torch", "--num-check", "2"]
    with pytest.raises(export.ExportCheckError, match="not written"):
        export.main(args)
    assert not list(tmp_path.glob("*.pt2"))
