"""Running a trained model on one's own images: the predictor and export (names imported on first use)."""
from resnet_det.utils.lazy import lazy_exports

_EXPORTS = {"Classification": ".predictor", "Predictor": ".predictor"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
