"""Networks: ImageNet and CIFAR ResNets, their blocks and the model registry (names imported on first use)."""
from resnet_det.utils.lazy import lazy_exports

_EXPORTS = {"CifarResNet": ".cifar", "FeatureInfo": ".resnet", "ResNet": ".resnet", "build_model": ".registry",
            "list_models": ".registry", "register_model": ".registry"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
