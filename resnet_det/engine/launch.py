"""What every training tool's command line shares: arguments (ours and detectron2's spellings),
logging, the config, and local multi-process launches (``--num-gpus``)."""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import torch
import torch.multiprocessing as mp

from resnet_det.config import CfgNode, ConfigValueError, load_config
from resnet_det.engine.output_dir import check_writable
from resnet_det.errors import UserError
from resnet_det.evaluation.evaluator import summary_lines
from resnet_det.utils.cli import main_guard, report_user_error
from resnet_det.utils.distributed import get_rank, init_distributed, is_main_process
from resnet_det.utils.env import environment_info
from resnet_det.utils.logger import setup_logger

if TYPE_CHECKING:
    from resnet_det.engine.trainer import Trainer

logger = logging.getLogger(__name__)


class WorkerExitedError(UserError, RuntimeError):
    """A process started by ``--num-gpus`` stopped; it logged why itself."""


def default_argument_parser(description: str) -> argparse.ArgumentParser:
    """``--config`` (or detectron2's ``--config-file``), ``--eval-only``, ``--resume``, detectron2's
    launch flags and trailing ``KEY VALUE`` overrides."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", "--config-file", dest="config", required=True,
                        help="a YAML file, or the name of a project config (coco_r101, demo, ...)")
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate MODEL.WEIGHTS (or the last checkpoint with --resume)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR's last checkpoint")
    parser.add_argument("--num-gpus", type=int, default=1,
                        help="processes on this machine, as torchrun --nproc_per_node (one GPU each; gloo on a CPU)")
    parser.add_argument("--num-machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0, help="this machine's index, 0 .. num-machines - 1")
    parser.add_argument("--dist-url", default="auto",
                        help="tcp://HOST:PORT of machine 0; auto: a free port on this machine (one machine only)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE pairs, e.g. SOLVER.MAX_ITER 1000")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args``, refusing a flag written among the KEY VALUE pairs (argparse would take it
    for an override)."""
    args = parser.parse_args(argv)
    flags = [o for o in args.overrides if o.startswith("--")]
    if flags:
        parser.error(f"{flags[0]} comes after the KEY VALUE overrides; put flags before them")
    return args


def setup(args: argparse.Namespace) -> CfgNode:
    """Load the config with its overrides and log (INFO on the main process, WARNING elsewhere) to
    the console and ``OUTPUT_DIR/log.txt``, starting with the arguments, versions, devices and the
    merged config."""
    setup_logger(rank=get_rank())  # so that a config error is logged too
    cfg = load_config(args.config, args.overrides)
    if is_main_process():
        check_writable(cfg.OUTPUT_DIR)  # before the log file is opened there
    setup_logger(cfg.OUTPUT_DIR, get_rank())
    logger.info("rank %d of %d, arguments: %s", get_rank(), int(os.environ.get("WORLD_SIZE", "1")), vars(args))
    for line in environment_info():
        logger.info("%s", line)
    logger.info("full config (also in %s):\n%s", Path(cfg.OUTPUT_DIR) / "config.yaml", cfg.dump())
    return cfg


def _master_address(dist_url: str, num_machines: int) -> tuple[str, int]:
    if dist_url == "auto":
        if num_machines > 1:
            raise ConfigValueError("--dist-url auto works on one machine; give tcp://HOST:PORT of machine 0")
        with socket.socket() as s:  # a port free now; the processes bind it moments later
            s.bind(("127.0.0.1", 0))
            return "127.0.0.1", s.getsockname()[1]
    url = urlparse(dist_url)
    if url.scheme != "tcp" or not url.hostname or not url.port:
        raise ConfigValueError(f"--dist-url must be tcp://HOST:PORT or auto, got {dist_url!r}")
    return url.hostname, url.port


def _worker(local_rank: int, trainer_class: type[Trainer], args: argparse.Namespace, master: tuple[str, int]) -> None:
    # The environment torchrun would give this process; init_distributed reads it the same way.
    world_size = args.num_gpus * args.num_machines
    os.environ.update({"RANK": str(args.machine_rank * args.num_gpus + local_rank), "LOCAL_RANK": str(local_rank),
                       "WORLD_SIZE": str(world_size), "LOCAL_WORLD_SIZE": str(args.num_gpus),
                       "MASTER_ADDR": master[0], "MASTER_PORT": str(master[1])})
    try:
        train_or_evaluate(trainer_class, args)
    except UserError as e:  # said here, once, rather than as the parent's traceback of this process
        report_user_error(e)
        sys.exit(1)


def launch(trainer_class: type[Trainer], args: argparse.Namespace) -> None:
    """:func:`train_or_evaluate` in this process, or in ``--num-gpus`` new ones on this machine (of
    ``--num-machines``), each with the environment ``torchrun`` gives its workers."""
    if args.num_gpus * args.num_machines == 1:
        train_or_evaluate(trainer_class, args)
        return
    if "WORLD_SIZE" in os.environ:
        raise ConfigValueError("--num-gpus starts its own processes; under torchrun, leave it out")
    try:
        mp.start_processes(_worker, args=(trainer_class, args, _master_address(args.dist_url, args.num_machines)),
                           nprocs=args.num_gpus, start_method="spawn")
    except mp.ProcessExitedException as e:
        raise WorkerExitedError(f"process {e.error_index} of {args.num_gpus} stopped with exit code {e.exit_code}"
                                " (its error is logged above)") from None


def setup_process(cfg: CfgNode) -> torch.device:
    """What a training process sets up before its trainer: the process group ``torchrun`` (or
    ``--num-gpus``) describes, and this rank's GPU as the current device; returns that device."""
    return init_distributed(cfg.MODEL.DEVICE)


def train_or_evaluate(trainer_class: type[Trainer], args: argparse.Namespace) -> None:
    """Set up, load or resume, train (or only evaluate), print the results."""
    cfg = setup(args)
    setup_process(cfg)
    trainer = trainer_class(cfg)
    loaded = trainer.load(args.resume)
    results = (trainer.evaluate(loaded) if args.eval_only else trainer.train())["results"]
    if is_main_process():
        print("\n".join(summary_lines(results)))


def run(trainer_class: type[Trainer], description: str | None, argv: list[str] | None = None) -> int:
    """A training tool's ``main``: 0 when it finished, 1 (with the message alone) on a user error."""
    @main_guard
    def main(args: list[str] | None) -> int:
        launch(trainer_class, parse_args(default_argument_parser(description or ""), args))
        return 0
    return main(argv)
