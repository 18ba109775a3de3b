"""The training tools' command line: detectron2's spellings, and a flag lost among the overrides."""
import json

import pytest

from resnet_det.engine.launch import _master_address, default_argument_parser, parse_args


def test_detectron2_spellings_are_understood():
    args = parse_args(default_argument_parser(""), ["--config-file", "coco_r101", "--num-gpus", "8", "--num-machines",
                                                    "2", "--machine-rank", "1", "--dist-url", "tcp://10.0.0.1:29500",
                                                    "SOLVER.MAX_ITER", "10"])
    assert (args.config, args.num_gpus, args.num_machines, args.machine_rank) == ("coco_r101", 8, 2, 1)
    assert args.overrides == ["SOLVER.MAX_ITER", "10"]
    assert _master_address(args.dist_url, args.num_machines) == ("10.0.0.1", 29500)


def test_a_flag_after_the_overrides_gets_a_hint(capsys):
    with pytest.raises(SystemExit):
        parse_args(default_argument_parser(""), ["--config", "demo", "SOLVER.MAX_ITER", "10", "--resume"])
    assert "--resume comes after the KEY VALUE overrides; put flags before them" in capsys.readouterr().err


@pytest.mark.parametrize("url, machines, match", [("auto", 2, "one machine"), ("10.0.0.1:29500", 1, "tcp://HOST:PORT")])
def test_unusable_dist_urls_are_refused(url, machines, match):
    with pytest.raises(ValueError, match=match):
        _master_address(url, machines)


def test_a_user_error_ends_the_tool_with_its_message_alone(tmp_path, caplog, monkeypatch):
    import socket

    from resnet_det.engine.det_trainer import DetectionTrainer
    from resnet_det.engine.launch import run
    monkeypatch.setenv("RESNET_DET_CACHE", str(tmp_path))
    with socket.socket() as s:  # a port nobody listens on: a model store that cannot be reached
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/R-18.pkl"
    code = run(DetectionTrainer, "", ["--config", "demo", "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", url,
                                      "OUTPUT_DIR", str(tmp_path / "out")])
    assert code == 1
    assert f"DownloadError: cannot download {url}" in caplog.text and "put it at" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_run_logs_lines_a_person_can_follow(tmp_path, small_run_args):
    from resnet_det.engine.cls_trainer import ClassificationTrainer
    from resnet_det.engine.launch import run
    assert run(ClassificationTrainer, "", [*small_run_args("cls"), "OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER",
                                           "10", "LOG_PERIOD", "4", "SOLVER.CHECKPOINT_PERIOD", "100"]) == 0
    log = (tmp_path / "log.txt").read_text()
    assert "torch 2." in log and "full config" in log and "OUTPUT_DIR: " + str(tmp_path) in log
    lines = [line for line in log.splitlines() if "iter: " in line]
    assert [line.split("iter: ")[1].split()[0] for line in lines] == ["4/10", "8/10", "10/10"]
    for field in ("eta: ", "loss: ", "lr: ", "time: ", "data_time: ", "max_rss: "):
        assert all(field in line for line in lines), field
    assert "eta: 0:00:00" in lines[-1] and "saved checkpoint" in log and "top1_error" in log
    events = [json.loads(line) for line in (tmp_path / "metrics.json").read_text().splitlines()]
    training = [e for e in events if "loss" in e]
    assert [e["iteration"] for e in training] == [4, 8, 10]
    assert all(e["time"] > 0 and 0 <= e["data_time"] <= e["time"] and e["max_rss"] > 0 for e in training)
    # The ETA is the time per iteration of the last period times what is left.
    assert training[0]["eta_seconds"] == pytest.approx(training[0]["time"] * 6)
    assert json.loads((tmp_path / "results.json").read_text())["iterations"] == 10
