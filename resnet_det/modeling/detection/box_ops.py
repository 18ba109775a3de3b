"""Box encoding shared by the RPN and the RoI head."""
from __future__ import annotations

import math
from typing import Sequence

from torchvision.models.detection._utils import BoxCoder

# Deltas are clamped before exp() so a box never grows past 1000/16 of its source (detectron2's bound).
SCALE_CLAMP = math.log(1000.0 / 16)


def box_coder(weights: Sequence[float]) -> BoxCoder:
    """torchvision's box coder with detectron2's clamp: ``encode_single``/``decode_single``."""
    return BoxCoder(tuple(weights), bbox_xform_clip=SCALE_CLAMP)

