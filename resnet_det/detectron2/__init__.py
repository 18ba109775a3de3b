"""resnet_det inside detectron2: ``import resnet_det.detectron2`` registers our ResNet trunk as the
backbone ``build_resnet_det_backbone`` and our res5 head as the ROI heads ``ResNetDetRes5ROIHeads``.

Call :func:`add_resnet_det_config` on a detectron2 config before merging a file that uses them.
``import resnet_det`` alone never imports detectron2.
"""
try:
    import detectron2  # noqa: F401
except ImportError as e:
    raise ImportError(
        "resnet_det.detectron2 needs detectron2, which has no usable PyPI release; install it from source: "
        "python -m pip install 'git+https://github.com/facebookresearch/detectron2.git' "
        "(or put a detectron2 checkout on PYTHONPATH)") from e

from resnet_det.detectron2.backbone import ResNetDetBackbone, build_resnet_det_backbone
from resnet_det.detectron2.config import add_resnet_det_config
from resnet_det.detectron2.datasets import register_in_detectron2
from resnet_det.detectron2.roi_heads import ResNetDetRes5ROIHeads

__all__ = ["ResNetDetBackbone", "ResNetDetRes5ROIHeads", "add_resnet_det_config", "build_resnet_det_backbone",
           "register_in_detectron2"]
