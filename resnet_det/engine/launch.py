"""What every training tool's command line shares: arguments, logging, the config."""
from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from resnet_det.config import CfgNode, load_config
from resnet_det.evaluation.evaluator import summary_lines
from resnet_det.utils.distributed import is_main_process

if TYPE_CHECKING:
    from resnet_det.engine.trainer import Trainer


def default_argument_parser(description: str) -> argparse.ArgumentParser:
    """``--config``, ``--eval-only``, ``--resume`` and trailing ``KEY VALUE`` overrides (detectron2's shape)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate MODEL.WEIGHTS (or the last checkpoint with --resume)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR's last checkpoint")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE pairs, e.g. SOLVER.MAX_ITER 1000")
    return parser


def setup(args: argparse.Namespace) -> CfgNode:
    """Log at INFO on the main process (WARNING elsewhere) and load the config with its overrides."""
    logging.basicConfig(level=logging.INFO if is_main_process() else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    return load_config(args.config, args.overrides)


def run(trainer_class: type[Trainer], description: str | None, argv: list[str] | None = None) -> int:
    """A training tool's ``main``: parse, set up, load or resume, train (or only evaluate), print the results."""
    args = default_argument_parser(description or "").parse_args(argv)
    trainer = trainer_class(setup(args))
    trainer.load(args.resume)
    results = trainer.test() if args.eval_only else trainer.train()["results"]
    if is_main_process():
        print("\n".join(summary_lines(results)))
    return 0
