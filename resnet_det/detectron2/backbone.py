"""Our ResNet as a detectron2 ``Backbone`` (``MODEL.BACKBONE.NAME: build_resnet_det_backbone``)."""
from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from resnet_det.detectron2.config import check_input_matches_style
from resnet_det.modeling.resnet import ResNet
from resnet_det.weights.styles import get_weight_style


class ResNetDetBackbone(ResNet, Backbone):
    """:class:`~resnet_det.modeling.resnet.ResNet` with detectron2's ``output_shape()``.

    Its parameter names are detectron2's ResNet's, so checkpoints move between the two unchanged.
    """

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {name: ShapeSpec(channels=f.channels, stride=f.stride) for name, f in super().output_shape().items()}


@BACKBONE_REGISTRY.register()
def build_resnet_det_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> ResNetDetBackbone:
    """The trunk described by ``MODEL.RESNET_DET``, frozen per ``MODEL.BACKBONE.FREEZE_AT``."""
    check_input_matches_style(cfg)
    node = cfg.MODEL.RESNET_DET
    return ResNetDetBackbone(
        node.DEPTH, num_classes=0, out_features=node.OUT_FEATURES, in_channels=input_shape.channels,
        stride_in_1x1=get_weight_style(node.WEIGHT_STYLE).stride_in_1x1, shortcut=node.SHORTCUT, norm=node.NORM,
        zero_init_last=node.ZERO_INIT_LAST, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
        res5_dilation=node.RES5_DILATION)
