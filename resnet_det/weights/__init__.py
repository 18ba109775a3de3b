"""Weights: styles, formats and names, files by path or URL, and loading into models.

Its names are loaded on first use (``resnet_det.weights.files.load_weights``), so importing one of its
modules does not import the rest.
"""
from __future__ import annotations

from resnet_det.utils.lazy import lazy_exports

_EXPORTS = {
    "WeightStyle": ".styles", "WEIGHT_STYLES": ".styles", "get_weight_style": ".styles",
    "FORMATS": ".formats", "WRITABLE_FORMATS": ".formats", "WRAPPER_PREFIXES": ".formats", "Weights": ".formats",
    "WeightsFileError": ".formats", "check_finite": ".formats", "detect_format": ".formats",
    "strip_prefix": ".formats",
    "caffe2_to_resnet_det": ".names", "infer_arch": ".names", "resnet_det_to_torchvision": ".names",
    "torchvision_to_resnet_det": ".names",
    "load_weights": ".files", "read_weights_file": ".files", "resolve_weights": ".files", "save_weights": ".files",
    "LoadReport": ".loading", "WeightsMismatchError": ".loading", "apply_weights": ".loading",
    "load_state_dict_checked": ".loading",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
