"""Running a trained model on one's own images: the predictor and export."""
from resnet_det.inference.predictor import Classification, Predictor

__all__ = ["Classification", "Predictor"]
