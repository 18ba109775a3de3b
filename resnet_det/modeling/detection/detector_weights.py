"""Initialising a C4 detector from a classifier/backbone checkpoint or from a detectron2 detector."""
from __future__ import annotations

import logging
import os

from resnet_det.modeling.detection.rcnn import C4RCNN
from resnet_det.weights.files import load_weights
from resnet_det.weights.formats import Weights
from resnet_det.weights.loading import LoadReport, apply_weights

logger = logging.getLogger(__name__)
_DETECTOR_PREFIXES = ("backbone.", "proposal_generator.", "roi_heads.")
# detectron2 keeps these buffers in some checkpoints; they are derived from the config here.
_DERIVED = ("pixel_mean", "pixel_std")


def detector_state_dict(weights: Weights) -> tuple[dict, bool]:
    """Map checkpoint keys onto the detector; return ``(state, is_detector_checkpoint)``.

    A classifier or backbone (ours, torchvision, MSRA, detectron2 backbone ``.pkl``) gives the trunk
    from ``stem``..``res4`` and the head's ``res5``; its classifier is dropped. A detector checkpoint
    (detectron2's C4 ``model_final``, or ours) already uses the detector's names.
    """
    state = {k: v for k, v in weights.state_dict.items() if k not in _DERIVED}
    if any(k.startswith(_DETECTOR_PREFIXES) for k in state):
        return state, True
    mapped = {}
    for key, value in state.items():
        if key.startswith("linear."):
            continue
        mapped[("roi_heads." if key.startswith("res5.") else "backbone.") + key] = value
    return mapped, False


# The layers sized by the number of classes: a checkpoint trained on other classes leaves them out.
CLASS_PREDICTORS = ("roi_heads.box_predictor.", "roi_heads.mask_head.predictor.")


def load_detector_weights(model: C4RCNN, path: str | os.PathLike, fmt: str | None = None,
                          strict: bool = False) -> LoadReport:
    """Load ``path`` (a file or a URL, see :func:`resnet_det.weights.files.resolve_weights`) into ``model``
    with :func:`apply_detector_weights`."""
    return apply_detector_weights(model, load_weights(path, fmt), str(path), strict)


def apply_detector_weights(model: C4RCNN, weights: Weights, path: str, strict: bool = False) -> LoadReport:
    """Load ``weights`` (read from ``path``, which messages name) into ``model`` by
    :func:`~resnet_det.weights.loading.apply_weights`: keys the checkpoint lacks are fine for a backbone (the
    RPN and predictors start fresh) and an error for a detector checkpoint, whose class predictors
    are skipped when trained on another number of classes (or with global context), unless ``strict``.
    """
    state, is_detector = detector_state_dict(weights)
    report = apply_weights(model, weights, state, path, model_style=model.weight_style,
                           class_predictors=CLASS_PREDICTORS if is_detector else (), strict=strict,
                           missing_ok=not is_detector)
    logger.info("loaded %s into the detector (%s); initialised from scratch: %s", path,
                "detector checkpoint" if is_detector else "backbone", ", ".join(report.missing) or "nothing")
    return report
