"""Faster / Mask R-CNN, C4: trunk to res4 -> RPN -> RoIAlign -> res5 head (He et al. 2015, appendix)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from resnet_det.modeling.detection.box_ops import scale_boxes
from resnet_det.modeling.detection.inputs import DetectionInputs
from resnet_det.modeling.detection.masks import paste_masks
from resnet_det.modeling.detection.roi_heads import Res5ROIHeads, ROIHeadsConfig
from resnet_det.modeling.detection.rpn import RPN, RPNConfig
from resnet_det.modeling.resnet import ResNet
from resnet_det.utils.amp import bf16_autocast
from resnet_det.weights import get_weight_style


class C4RCNN(nn.Module):
    """The detector. Parameter names match detectron2's C4 models (``backbone.*``,
    ``proposal_generator.rpn_head.*``, ``roi_heads.res5.*``, ``roi_heads.box_predictor.*``,
    ``roi_heads.mask_head.*``), so their checkpoints load without renaming.

    ``forward(images, targets=None)`` follows torchvision: a list of uint8 RGB 3 x H x W tensors in;
    in training, targets (``boxes`` xyxy pixels, ``labels`` in ``[0, num_classes)``, ``masks``
    N x H x W for Mask R-CNN) give a dict of losses; in eval, a list of dicts with ``boxes`` (in
    the input image's pixels), ``scores``, ``labels`` and, for Mask R-CNN, boolean ``masks`` N x H x W.
    """

    def __init__(self, depth: int = 50, *, weight_style: str = "caffe", norm: str = "FrozenBN", freeze_at: int = 2,
                 res5_dilation: int = 1, rpn: RPNConfig | None = None, roi_heads: ROIHeadsConfig | None = None,
                 min_size_train: Sequence[int] = (800,), max_size_train: int = 1333, min_size_test: int = 800,
                 max_size_test: int = 1333, bf16: bool = False) -> None:
        super().__init__()
        stride_in_1x1 = get_weight_style(weight_style).stride_in_1x1
        self.weight_style = weight_style
        self.inputs = DetectionInputs(weight_style, min_size_train, max_size_train, min_size_test, max_size_test)
        self.backbone = ResNet(depth, num_classes=0, out_features=["res4"], stride_in_1x1=stride_in_1x1, norm=norm,
                               freeze_at=freeze_at)
        res4 = self.backbone.output_shape()["res4"]
        self.proposal_generator = RPN(res4.channels, res4.stride, rpn or RPNConfig())
        self.roi_heads = Res5ROIHeads(depth, roi_heads or ROIHeadsConfig(), stride_in_1x1=stride_in_1x1, norm=norm,
                                      feature_stride=res4.stride, res5_dilation=res5_dilation)
        self.bf16 = bf16

    @property
    def mask_on(self) -> bool:
        return self.roi_heads.mask_head is not None

    def forward(self, images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None = None):
        if self.training and targets is None:
            raise ValueError("training mode needs targets; call model.eval() for inference")
        batch, sizes, scales, targets = self.inputs(images, targets)
        if self.backbone.stem.conv1.weight.is_contiguous(memory_format=torch.channels_last):
            batch = batch.contiguous(memory_format=torch.channels_last)
        with bf16_autocast(batch.device.type, self.bf16):
            features = self.backbone(batch)["res4"]
            gt_boxes = [t["boxes"] for t in targets] if self.training else None
            proposals, _, rpn_losses = self.proposal_generator(features, sizes, gt_boxes)
            if self.training:
                return {**rpn_losses, **self.roi_heads(features, proposals, sizes, targets)}
            detections = self.roi_heads(features, proposals, sizes)
        return [self._to_input_frame(det, scale, image.shape[-2:])
                for det, scale, image in zip(detections, scales, images)]

    @staticmethod
    def _to_input_frame(det: tuple, scale: tuple[float, float], size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Boxes back to the caller's image pixels (clipped), masks pasted at that resolution."""
        boxes, scores, labels = det[:3]
        sx, sy = scale
        boxes = scale_boxes(boxes, 1 / sx, 1 / sy)
        height, width = int(size[0]), int(size[1])
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        out = {"boxes": boxes, "scores": scores.float(), "labels": labels}
        if len(det) > 3:
            out["masks"] = paste_masks(det[3], boxes, height, width)
        return out


def build_detector(cfg) -> C4RCNN:
    """The C4 detector that a detectron2-style config describes (see ``resnet_det.config.get_cfg``)."""
    m = cfg.MODEL
    rpn = RPNConfig(
        anchor_sizes=tuple(m.ANCHOR_GENERATOR.SIZES[0]), aspect_ratios=tuple(m.ANCHOR_GENERATOR.ASPECT_RATIOS[0]),
        iou_thresholds=tuple(m.RPN.IOU_THRESHOLDS), batch_size_per_image=m.RPN.BATCH_SIZE_PER_IMAGE,
        positive_fraction=m.RPN.POSITIVE_FRACTION, bbox_reg_weights=tuple(m.RPN.BBOX_REG_WEIGHTS),
        pre_nms_topk_train=m.RPN.PRE_NMS_TOPK_TRAIN, post_nms_topk_train=m.RPN.POST_NMS_TOPK_TRAIN,
        pre_nms_topk_test=m.RPN.PRE_NMS_TOPK_TEST, post_nms_topk_test=m.RPN.POST_NMS_TOPK_TEST,
        nms_thresh=m.RPN.NMS_THRESH, min_box_size=m.PROPOSAL_GENERATOR.MIN_SIZE, loss_weight=m.RPN.LOSS_WEIGHT)
    heads = ROIHeadsConfig(
        num_classes=m.ROI_HEADS.NUM_CLASSES, batch_size_per_image=m.ROI_HEADS.BATCH_SIZE_PER_IMAGE,
        positive_fraction=m.ROI_HEADS.POSITIVE_FRACTION, iou_threshold=m.ROI_HEADS.IOU_THRESHOLDS[0],
        proposal_append_gt=m.ROI_HEADS.PROPOSAL_APPEND_GT, pooler_resolution=m.ROI_BOX_HEAD.POOLER_RESOLUTION,
        bbox_reg_weights=tuple(m.ROI_BOX_HEAD.BBOX_REG_WEIGHTS), score_thresh_test=m.ROI_HEADS.SCORE_THRESH_TEST,
        nms_thresh_test=m.ROI_HEADS.NMS_THRESH_TEST, detections_per_image=cfg.TEST.DETECTIONS_PER_IMAGE,
        mask_on=m.MASK_ON, mask_channels=m.ROI_MASK_HEAD.CONV_DIM)
    return C4RCNN(m.RESNETS.DEPTH, weight_style=m.WEIGHT_STYLE, norm=m.RESNETS.NORM, freeze_at=m.BACKBONE.FREEZE_AT,
                  res5_dilation=m.RESNETS.RES5_DILATION, rpn=rpn, roi_heads=heads,
                  min_size_train=cfg.INPUT.MIN_SIZE_TRAIN, max_size_train=cfg.INPUT.MAX_SIZE_TRAIN,
                  min_size_test=cfg.INPUT.MIN_SIZE_TEST, max_size_test=cfg.INPUT.MAX_SIZE_TEST,
                  bf16=cfg.SOLVER.AMP.ENABLED)
