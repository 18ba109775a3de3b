"""Every tool ends a user error with one line naming what, where and what to do, and exit status 1:
no traceback. Each case is run in this process through the tool's ``main``."""
import hashlib
import json
import math

import pytest
import torch

SMALL_DET = ["MODEL.DEVICE", "cpu", "SOLVER.MAX_ITER", "2", "SOLVER.STEPS", "(1,)", "INPUT.MIN_SIZE_TRAIN", "(64,)",
             "INPUT.MIN_SIZE_TEST", "64", "DATALOADER.NUM_WORKERS", "0"]


def _run(capsys, tool, name: str, argv: list[str]) -> str:
    """The last line the tool wrote to stderr, after checking that it failed cleanly."""
    assert tool(name).main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1]


def _config(tmp_path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


# (tool, arguments, what the last line says); {out}, {url} and {tmp} are filled in per test.
TRAINING_CASES = {
    "weights URL answers 404": ("train_net", ["--config", "demo", *SMALL_DET, "MODEL.WEIGHTS", "{url}/gone.pkl"],
                                r"DownloadError: .*/gone.pkl: the server answered 404 Not Found"),
    "eval-only without weights": ("train_net", ["--config", "demo", "--eval-only", *SMALL_DET],
                                  r"ConfigValueError: evaluation needs weights: set MODEL.WEIGHTS"),
    "empty MIN_SIZE_TRAIN": ("train_net", ["--config", "demo", "INPUT.MIN_SIZE_TRAIN", "()"],
                             r"INPUT.MIN_SIZE_TRAIN must be one or more positive sizes, got \(\)"),
    "no RoIs per image": ("train_net", ["--config", "demo", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "0"],
                          r"MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE must be positive, got 0"),
    "negative momentum": ("train_net", ["--config", "demo", "SOLVER.MOMENTUM", "-0.9"],
                          r"SOLVER.MOMENTUM must be in \[0, 1\), got -0.9"),
    "negative learning rate": ("train_cls", ["--config", "demo_cls", "SOLVER.BASE_LR", "-0.1"],
                               r"SOLVER.BASE_LR must be positive, got -0.1"),
    "NUM_CLASSES against the data": ("train_net", ["--config", "demo", *SMALL_DET, "MODEL.ROI_HEADS.NUM_CLASSES", "5"],
                                     r"shapes_det_train has 3 classes but MODEL.ROI_HEADS.NUM_CLASSES is 5"),
    "unknown norm": ("train_net", ["--config", "demo", *SMALL_DET, "MODEL.RESNETS.NORM", "LayerNorm"],
                     r"MODEL.RESNETS.NORM must be one of .*'FrozenBN'.*, got 'LayerNorm'"),
    "unknown architecture": ("train_cls", ["--config", "demo_cls", "MODEL.DEVICE", "cpu", "MODEL.ARCH", "resnet7"],
                             r"MODEL.ARCH must be one of .*'resnet18'.*, got 'resnet7'"),
    "OUTPUT_DIR cannot be written": ("train_net", ["--config", "demo", *SMALL_DET, "OUTPUT_DIR", "{tmp}/file/out"],
                                     r"OutputDirError: OUTPUT_DIR .*/file/out is not writable"),
    "_BASE_ cycle": ("train_net", ["--config", "{tmp}/a.yaml"], r"a.yaml: its _BASE_ files form a cycle: .*a.yaml -> "
                     r".*b.yaml -> .*a.yaml"),
    "_BASE_ not a config": ("train_cls", ["--config", "{tmp}/c.yaml"],
                            r"list.yaml \(the _BASE_ of .*c.yaml\): not a mapping of config keys \(found list\)"),
    "a string inside a list of sizes": ("train_net", ["--config", "demo", "INPUT.MIN_SIZE_TRAIN", "('64',)"],
                                        r"INPUT.MIN_SIZE_TRAIN must be one or more positive sizes, got \('64',\)"),
    "a detector checkpoint into a classifier": ("train_cls", ["--config", "demo_cls", "--eval-only", "MODEL.DEVICE",
                                                              "cpu", "MODEL.WEIGHTS", "{det}"],
                                                r"WeightsMismatchError: .*det.pth does not fit the model"),
    "resume with no usable checkpoint": ("train_cls", ["--config", "demo_cls", "--resume", "MODEL.DEVICE", "cpu",
                                                       "OUTPUT_DIR", "{tmp}/run"],
                                         r"cannot resume from .*/run: no checkpoint there can be used \(model_0000010"
                                         r".pth: cannot read checkpoint"),
}


@pytest.fixture
def inputs(tmp_path, http_files, demo_weights):
    (tmp_path / "file").write_text("")
    _config(tmp_path, "a.yaml", "_BASE_: b.yaml\n")
    _config(tmp_path, "b.yaml", "_BASE_: a.yaml\n")
    _config(tmp_path, "list.yaml", "- SOLVER\n")
    _config(tmp_path, "c.yaml", "_BASE_: list.yaml\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model_0000010.pth").write_bytes(b"PK\x03\x04 cut short")
    (tmp_path / "run_without_test_set").mkdir()
    _config(tmp_path, "run_without_test_set/config.yaml", "DATASETS:\n  TEST: []\n")
    _config(tmp_path, "run_without_test_set/metrics.json", "")
    return {"tmp": str(tmp_path), "url": http_files.url, "out": str(tmp_path / "out"), "det": str(demo_weights("det"))}


def _filled(argv: list[str], inputs: dict) -> list[str]:
    return [a.format(**inputs) for a in argv]


@pytest.mark.parametrize("name, argv, match", TRAINING_CASES.values(), ids=TRAINING_CASES.keys())
def test_a_training_tool_ends_a_user_error_with_one_line(capsys, tool, inputs, name, argv, match):
    import re
    assert re.search(match, _run(capsys, tool, name, _filled(argv, inputs)))


def test_a_missing_gpu_is_named(capsys, tool, inputs):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    line = _run(capsys, tool, "train_net", ["--config", "demo", "MODEL.DEVICE", "cuda"])
    assert "MODEL.DEVICE cuda: no CUDA device is available on this machine; use MODEL.DEVICE cpu" in line


BODY = b"\x80\x04weights."


@pytest.mark.parametrize("name, argv, match", [
    ("convert_weights", ["{url}/gone.pth", "{out}", "--to", "resnet_det"], r"gone.pth: the server answered 404"),
    ("convert_weights", ["{url}/page.pkl", "{out}", "--to", "resnet_det"], r"sent a web page"),
    ("convert_weights", ["{url}/r-00badc0de.pkl", "{out}", "--to", "resnet_det"], r"sha256 is .*, not the 00badc0de"),
    ("demo", ["--config", "demo", "--weights", "{tmp}/missing.pth", "--input", "{tmp}", "--output", "{out}"],
     r"missing.pth: no such weights file"),
    ("export_model", ["--config", "demo", "--weights", "{url}/page.pkl", "--output", "{out}"], r"sent a web page"),
    ("precise_bn", ["--config", "demo_cls", "--weights", "{tmp}/missing.pth", "--output", "{out}"],
     r"missing.pth: no such weights file"),
    ("visualize", ["--config", "demo", "MODEL.WEIGHTS", "{tmp}/missing.pth"], r"missing.pth: no such weights file"),
    ("analyze", ["fig6", "{tmp}"], r"not the OUTPUT_DIR of a training run \(no config.yaml or metrics.json\)"),
    ("analyze", ["fig7", "{tmp}/missing.pth", "--dataset", "shapes_test"], r"missing.pth: no such weights file"),
    ("analyze", ["fig6", "{tmp}/run_without_test_set"], r"the run has no DATASETS.TEST, so no test error to plot"),
    ("demo", ["--config", "demo", "--input", "{tmp}", "--output", "{out}"], r"no weights to predict with"),
    ("demo", ["--config", "demo", "--weights", "{det}", "--video-input", "{tmp}/none.mp4", "--output", "{out}"],
     r"none.mp4: cannot open as a video"),
    ("demo", ["--config", "demo", "--weights", "{det}", "--input", "{tmp}", "--output", "{tmp}/file"],
     r"FileExistsError: .*file"),
    ("convert_weights", ["{det}", "{tmp}", "--to", "detectron2"], r"IsADirectoryError: .*"),
    ("evaluate_results", ["--dataset", "cifar10_test", "--results", "{tmp}/r.json"],
     r"--dataset cifar10_test is not a COCO-format detection set"),
], ids=["convert: 404", "convert: html page", "convert: wrong checksum", "demo", "export: html page", "precise_bn",
        "visualize", "analyze fig6", "analyze fig7", "analyze fig6 without a test set", "demo without weights",
        "demo: missing video", "demo: output is a file", "convert: output is a folder", "results of a cifar set"])
def test_the_other_tools_end_a_user_error_with_one_line(capsys, tool, inputs, http_files, name, argv, match):
    import re
    http_files.serve("/page.pkl", b"<!DOCTYPE html><html>Sign in</html>")
    http_files.serve("/r-00badc0de.pkl", BODY)
    assert re.search(match, _run(capsys, tool, name, _filled(argv, inputs)))


@pytest.fixture
def scored_set(tmp_path, tiny_coco):
    """A registered 3-image COCO set ("tiny", 40 x 60 images, one category of id 1) and the overrides naming it."""
    json_file = tiny_coco(tmp_path, [{"image_id": 1, "bbox": [5, 5, 20, 20], "area": 400}])
    return ["DATASETS.REGISTER", json.dumps([["tiny", str(json_file), str(tmp_path)]])]


GOOD = {"image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20], "score": 0.9}


@pytest.mark.parametrize("record, match", [
    ({**GOOD, "bbox": "5,5,20,20"}, r"bbox '5,5,20,20' is not four finite numbers"),
    ({**GOOD, "image_id": [1]}, r"image_id \[1\] is not an integer"),
    ({**GOOD, "score": math.nan}, r"score nan is not a finite number"),
    ({**GOOD, "category_id": 0}, r"category_id 0 is not a category of the dataset \(its ids: 1..1; contiguous"),
    ({**GOOD, "segmentation": {"size": [80, 120], "counts": "PPYo1"}},
     r"its mask is encoded at 80 x 120 but image 1 is 40 x 60"),
    ({**GOOD, "segmentation": {"size": [], "counts": "x"}}, r"segmentation is not a compressed RLE"),
], ids=["string bbox", "list image_id", "NaN score", "unknown category", "mask at another size", "mask of no size"])
def test_a_results_file_that_would_score_nonsense_is_refused_by_record(capsys, tool, tmp_path, scored_set, record,
                                                                       match):
    import re
    (tmp_path / "results.json").write_text(json.dumps([GOOD, record]))
    line = _run(capsys, tool, "evaluate_results", ["--dataset", "tiny", "--results", str(tmp_path / "results.json"),
                                                   *scored_set])
    assert re.search(rf"results.json: 1 of 2 records cannot be scored \(record 1: {match}", line)


def test_a_results_file_scores_once_it_is_right(capsys, tool, tmp_path, scored_set):
    (tmp_path / "results.json").write_text(json.dumps([GOOD]))
    assert tool("evaluate_results").main(["--dataset", "tiny", "--results", str(tmp_path / "results.json"),
                                          *scored_set]) == 0
    assert "tiny bbox: AP 100.00" in capsys.readouterr().out


def test_a_results_file_nested_too_deep_for_json_is_named(capsys, tool, tmp_path, scored_set):
    (tmp_path / "results.json").write_text("[" * 100_000 + "]" * 100_000)
    line = _run(capsys, tool, "evaluate_results", ["--dataset", "tiny", "--results", str(tmp_path / "results.json"),
                                                   *scored_set])
    assert "results.json: not a readable JSON file" in line


def test_an_export_size_must_be_positive(capsys, tool, tmp_path):
    with pytest.raises(SystemExit) as exit_status:  # argparse's own exit: usage and one line
        tool("export_model").main(["--config", "demo", "--output", str(tmp_path), "--size", "0", "0"])
    assert exit_status.value.code == 2 and "expected a positive whole number, got '0'" in capsys.readouterr().err


def test_checksums_of_served_bodies_are_what_the_cases_assume():
    assert not hashlib.sha256(BODY).hexdigest().startswith("00badc0de")
