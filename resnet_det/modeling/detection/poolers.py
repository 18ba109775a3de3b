"""The RoI pooler: crops of a feature map at each RoI, of a fixed size, for the per-RoI head."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align, roi_pool

from resnet_det.config import CfgNode, ConfigValueError

# detectron2's names: RoIAlign with the half-pixel shift (V2, its default) or without it (Mask R-CNN's
# original), and the quantising max pooling of Fast R-CNN, which the paper's detectors used.
POOLER_TYPES = ("ROIAlignV2", "ROIAlign", "ROIPool")


class ROIPooler(nn.Module):
    """RoIs (per-image boxes, or K x 5 rows of batch index and box, in input pixels) -> K x C x S x S
    crops of a feature map of stride ``1 / spatial_scale``. ``sampling_ratio`` 0 is adaptive."""

    def __init__(self, output_size: int = 14, pooler_type: str = "ROIAlignV2", sampling_ratio: int = 0,
                 spatial_scale: float = 1 / 16) -> None:
        super().__init__()
        if pooler_type not in POOLER_TYPES:
            raise ConfigValueError(f"MODEL.ROI_BOX_HEAD.POOLER_TYPE must be one of {POOLER_TYPES}, got {pooler_type!r}")
        self.output_size, self.pooler_type = output_size, pooler_type
        self.sampling_ratio, self.spatial_scale = sampling_ratio, spatial_scale

    @classmethod
    def from_config(cls, cfg: CfgNode, feature_stride: int) -> ROIPooler:
        box_head = cfg.MODEL.ROI_BOX_HEAD
        return cls(box_head.POOLER_RESOLUTION, box_head.POOLER_TYPE, box_head.POOLER_SAMPLING_RATIO, 1 / feature_stride)

    def forward(self, features: torch.Tensor, rois: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Boxes stay float32 even under bf16 autocast: bf16 keeps 8 mantissa bits, which would move a
        box edge near x = 1200 by up to 4 pixels."""
        size = (self.output_size, self.output_size)
        rois = rois.float() if isinstance(rois, torch.Tensor) else [b.float() for b in rois]
        if self.pooler_type == "ROIPool":
            return roi_pool(features.float(), rois, size, self.spatial_scale)
        return roi_align(features.float(), rois, size, self.spatial_scale, sampling_ratio=self.sampling_ratio,
                         aligned=self.pooler_type == "ROIAlignV2")
