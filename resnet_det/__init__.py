"""resnet_det: deep residual networks for classification and C4 detection."""
from resnet_det.inference import Classification, Predictor
from resnet_det.modeling import build_model, list_models
from resnet_det.modeling.detection.rcnn import build_detector

__version__ = "0.1.0"
__all__ = ["Classification", "Predictor", "__version__", "build_detector", "build_model", "list_models"]
