"""The training tools' command line: detectron2's spellings, and a flag lost among the overrides."""
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
