"""Networks: ImageNet and CIFAR ResNets, their blocks and the model registry."""
from resnet_det.modeling.cifar import CifarResNet
from resnet_det.modeling.registry import build_model, list_models, register_model
from resnet_det.modeling.resnet import FeatureInfo, ResNet

__all__ = ["CifarResNet", "FeatureInfo", "ResNet", "build_model", "list_models", "register_model"]
