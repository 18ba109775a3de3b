"""Faster / Mask R-CNN, C4: trunk to res4 -> RPN -> RoIAlign -> res5 head (He et al. 2015, appendix)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.modeling.detection.box_ops import scale_boxes
from resnet_det.modeling.detection.inputs import DetectionInputs
from resnet_det.modeling.detection.masks import paste_masks
from resnet_det.modeling.detection.roi_heads import Res5ROIHeads, ROIHeadsConfig
from resnet_det.modeling.detection.rpn import RPN, RPNConfig
from resnet_det.modeling.detection.structures import Instances
from resnet_det.modeling.resnet import ResNet
from resnet_det.utils.amp import bf16_autocast


class C4RCNN(nn.Module):
    """The detector. Parameter names match detectron2's C4 models (``backbone.*``,
    ``proposal_generator.rpn_head.*``, ``roi_heads.res5.*``, ``roi_heads.box_predictor.*``,
    ``roi_heads.mask_head.*``), so their checkpoints load without renaming.

    ``forward(images, targets=None)`` follows torchvision: a list of uint8 RGB 3 x H x W tensors in;
    in training, targets (``boxes`` xyxy pixels, ``labels`` in ``[0, num_classes)``, ``masks``
    N x H x W for Mask R-CNN, and the loader's ``short_side``) give a dict of losses; in eval, one
    :class:`Instances` per image, with boxes in its pixels and, for Mask R-CNN, boolean masks at its
    resolution.
    """

    def __init__(self, depth: int = 50, *, inputs: DetectionInputs, norm: str = "FrozenBN", freeze_at: int = 2,
                 res5_dilation: int = 1, shortcut: str = "B", zero_init_last: bool = False,
                 rpn: RPNConfig | None = None, roi_heads: ROIHeadsConfig | None = None, bf16: bool = False) -> None:
        super().__init__()
        self.weight_style = inputs.normalize.style.name
        stride_in_1x1 = inputs.normalize.style.stride_in_1x1
        self.inputs = inputs
        self.backbone = ResNet(depth, num_classes=0, out_features=["res4"], freeze_at=freeze_at,
                               stride_in_1x1=stride_in_1x1, norm=norm, shortcut=shortcut, zero_init_last=zero_init_last)
        res4 = self.backbone.output_shape()["res4"]
        self.proposal_generator = RPN(res4.channels, res4.stride, rpn or RPNConfig())
        self.roi_heads = Res5ROIHeads(depth, roi_heads or ROIHeadsConfig(), feature_stride=res4.stride,
                                      res5_dilation=res5_dilation, stride_in_1x1=stride_in_1x1, norm=norm,
                                      shortcut=shortcut, zero_init_last=zero_init_last)
        self.bf16 = bf16

    @classmethod
    def from_config(cls, cfg: CfgNode) -> C4RCNN:
        """The C4 detector that a detectron2-style config describes (see ``resnet_det.config.get_cfg``)."""
        m = cfg.MODEL
        return cls(m.RESNETS.DEPTH, inputs=DetectionInputs.from_config(cfg), norm=m.RESNETS.NORM,
                   freeze_at=m.BACKBONE.FREEZE_AT, res5_dilation=m.RESNETS.RES5_DILATION,
                   shortcut=m.RESNETS.SHORTCUT or "B", zero_init_last=m.RESNETS.ZERO_INIT_LAST,
                   rpn=RPNConfig.from_config(cfg), roi_heads=ROIHeadsConfig.from_config(cfg),
                   bf16=cfg.SOLVER.AMP.ENABLED)

    def forward(self, images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None = None,
                test_size: tuple[int, int] | None = None) -> dict[str, torch.Tensor] | list[Instances]:
        """Losses in training; detections in eval mode, at ``test_size`` (shorter side, longest side)
        instead of ``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST`` when given."""
        if self.training and targets is None:
            raise ValueError("training mode needs targets; call model.eval() for inference")
        inputs = self.inputs(images, targets, test_size)
        batch = inputs.tensor
        if self.backbone.stem.conv1.weight.is_contiguous(memory_format=torch.channels_last):
            batch = batch.contiguous(memory_format=torch.channels_last)
        with bf16_autocast(batch.device.type, self.bf16):
            features = self.backbone(batch)["res4"]
            gt_boxes = [t["boxes"] for t in inputs.targets] if inputs.targets is not None else None
            rpn = self.proposal_generator(features, inputs.image_sizes, gt_boxes)
            if self.training:
                return {**rpn.losses, **self.roi_heads(features, rpn.proposals, inputs.image_sizes, inputs.targets)}
            detections = self.roi_heads(features, rpn.proposals, inputs.image_sizes)
        return [self._to_input_frame(det, scale, image.shape[-2:])
                for det, scale, image in zip(detections, inputs.scales, images)]

    @staticmethod
    def _to_input_frame(det: Instances, scale: tuple[float, float], size: tuple[int, int]) -> Instances:
        """Boxes back to the caller's image pixels (clipped), masks pasted at that resolution."""
        sx, sy = scale
        boxes = scale_boxes(det.boxes, 1 / sx, 1 / sy)
        height, width = int(size[0]), int(size[1])
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        masks = None if det.masks is None else paste_masks(det.masks, boxes, height, width)
        return Instances(boxes, det.scores.float(), det.labels, masks)


def build_detector(cfg: CfgNode) -> C4RCNN:
    """:meth:`C4RCNN.from_config`."""
    return C4RCNN.from_config(cfg)
