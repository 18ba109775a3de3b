"""What every training tool's command line shares: arguments, logging, the config."""
from __future__ import annotations

import argparse
import logging

from resnet_det.config import CfgNode, load_config
from resnet_det.engine.distributed import is_main_process


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
