"""detectron2's C4 ROI heads with our res5 (``MODEL.ROI_HEADS.NAME: ResNetDetRes5ROIHeads``)."""
from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.modeling import ROI_HEADS_REGISTRY
from detectron2.modeling.roi_heads import Res5ROIHeads
from torch import nn

from resnet_det.modeling.detection.roi_heads import build_res5_head
from resnet_det.weights.styles import get_weight_style


@ROI_HEADS_REGISTRY.register()
class ResNetDetRes5ROIHeads(Res5ROIHeads):
    """Res5ROIHeads whose res5 follows ``MODEL.RESNET_DET``: basic blocks for R18/R34, the weight
    style's stride placement, our norms and shortcuts. Box and mask predictors are detectron2's."""

    @classmethod
    def _build_res5_block(cls, cfg: CfgNode) -> tuple[nn.Sequential, int]:
        node = cfg.MODEL.RESNET_DET
        return build_res5_head(node.DEPTH, stride_in_1x1=get_weight_style(node.WEIGHT_STYLE).stride_in_1x1,
                               norm=node.NORM, res5_dilation=node.RES5_DILATION, zero_init_last=node.ZERO_INIT_LAST,
                               shortcut=node.SHORTCUT)
