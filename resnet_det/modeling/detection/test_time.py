"""The detector as evaluation and the Predictor run it: the trained model, joined by an ensemble's
members and wrapped in test-time augmentation when the config asks for them."""
from __future__ import annotations

from torch import nn

from resnet_det.config import CfgNode
from resnet_det.modeling.detection.ensemble import DetectorEnsemble
from resnet_det.modeling.detection.rcnn import C4RCNN
from resnet_det.modeling.detection.tta import DetectorWithTTA


def build_test_detector(detector: C4RCNN, cfg: CfgNode) -> nn.Module:
    """``detector`` joined by ``TEST.ENSEMBLE``'s members, then wrapped in ``TEST.AUG``'s test-time
    augmentation, each when configured."""
    model: nn.Module = DetectorEnsemble.from_config(detector, cfg) if cfg.TEST.ENSEMBLE.WEIGHTS else detector
    return DetectorWithTTA.from_config(model, cfg) if cfg.TEST.AUG.ENABLED else model
