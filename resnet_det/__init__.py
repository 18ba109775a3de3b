"""resnet_det: deep residual networks for classification and C4 detection.

The names below are imported on first use, so ``import resnet_det.modeling.resnet`` stays light.
"""
from resnet_det.utils.lazy import lazy_exports

__version__ = "0.1.0"
_EXPORTS = {"Classification": ".inference.predictor", "Predictor": ".inference.predictor",
            "build_detector": ".modeling.detection.rcnn", "build_model": ".modeling.registry",
            "list_models": ".modeling.registry"}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__ = lazy_exports(__name__, _EXPORTS)
