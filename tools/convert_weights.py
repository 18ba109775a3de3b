#!/usr/bin/env python
"""Convert ResNet weights between torchvision, resnet_det, detectron2 and MSRA/caffe2 formats.

    python tools/convert_weights.py resnet50-torchvision.pth r50.pkl --to detectron2
    python tools/convert_weights.py R-50.pkl r50.pth --to resnet_det
    python tools/convert_weights.py moco_v2_800ep.pth r50.pkl --to detectron2 --strip-prefix module.encoder_q.
"""
from __future__ import annotations

import argparse
import sys

from resnet_det.utils.cli import main_guard
from resnet_det.weights import (
    FORMATS,
    WEIGHT_STYLES,
    WRAPPER_PREFIXES,
    WRITABLE_FORMATS,
    load_weights,
    save_weights,
)


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="checkpoint to read (.pth/.pt: torch, .pkl: detectron2 or MSRA)")
    parser.add_argument("output", help="file to write")
    parser.add_argument("--to", required=True, choices=WRITABLE_FORMATS, help="output format")
    parser.add_argument("--from", dest="source", choices=FORMATS, help="input format (default: detected)")
    parser.add_argument("--style", choices=sorted(WEIGHT_STYLES),
                        help="weight style to record when the input does not say (or to override it)")
    parser.add_argument("--strip-prefix", metavar="PREFIX",
                        help=f"read only the tensors under PREFIX, without it (e.g. {', '.join(WRAPPER_PREFIXES)})")
    args = parser.parse_args(argv)
    weights = load_weights(args.input, args.source, strip=args.strip_prefix)
    if args.style:
        weights.weight_style = args.style
    save_weights(weights, args.output, args.to)
    print(f"{args.input} ({weights.source_format}, {weights.arch or 'unknown arch'}, "
          f"{weights.weight_style or 'unknown'} style, {len(weights.state_dict)} tensors) "
          f"-> {args.output} ({args.to})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
