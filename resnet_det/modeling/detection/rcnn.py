"""Faster / Mask R-CNN, C4: trunk to res4 -> RPN -> RoIAlign -> res5 head (He et al. 2015, appendix)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from resnet_det.config import CfgNode, check_choice
from resnet_det.modeling.detection.box_ops import scale_boxes
from resnet_det.modeling.detection.inputs import DetectionInputs, PreparedInputs
from resnet_det.modeling.detection.masks import paste_masks
from resnet_det.modeling.detection.multiscale import MultiScaleConfig, PyramidRes5, multi_scale_from_config
from resnet_det.modeling.detection.roi_heads import Res5Maps, Res5ROIHeads
from resnet_det.modeling.detection.rpn import RPN, RPNConfig
from resnet_det.modeling.detection.structures import Instances
from resnet_det.modeling.registry import check_resnet_options
from resnet_det.modeling.resnet import ARCH_SETTINGS, ResNet
from resnet_det.utils.amp import bf16_autocast
from resnet_det.weights.styles import get_weight_style


@dataclass
class RoIFeatures:
    """A test batch ready for the RPN and the RoI head: the prepared images, their res4 at the test
    size (where the RPN runs) and the source of RoI features for boxes in that input."""

    inputs: PreparedInputs
    res4: torch.Tensor
    res5: Res5Maps


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

    def __init__(self, backbone: ResNet, proposal_generator: RPN, roi_heads: Res5ROIHeads, inputs: DetectionInputs,
                 *, bf16: bool = False, multi_scale: MultiScaleConfig | None = None) -> None:
        super().__init__()
        self.weight_style = inputs.normalize.style.name
        self.inputs, self.backbone = inputs, backbone
        self.proposal_generator, self.roi_heads = proposal_generator, roi_heads
        self.bf16, self.multi_scale = bf16, multi_scale

    @classmethod
    def from_config(cls, cfg: CfgNode) -> C4RCNN:
        """The C4 detector that a detectron2-style config describes (see ``resnet_det.config.get_cfg``):
        each part built from the config by its own ``from_config``."""
        m = cfg.MODEL
        check_resnet_options(cfg)
        check_choice("MODEL.RESNETS.DEPTH", m.RESNETS.DEPTH, ARCH_SETTINGS)
        check_choice("MODEL.BACKBONE.FREEZE_AT", m.BACKBONE.FREEZE_AT, range(6))
        backbone = ResNet(m.RESNETS.DEPTH, num_classes=0, out_features=["res4"], freeze_at=m.BACKBONE.FREEZE_AT,
                          stride_in_1x1=get_weight_style(m.WEIGHT_STYLE).stride_in_1x1, norm=m.RESNETS.NORM,
                          shortcut=m.RESNETS.SHORTCUT or "B", zero_init_last=m.RESNETS.ZERO_INIT_LAST)
        res4 = backbone.output_shape()["res4"]
        return cls(backbone, RPN(res4.channels, res4.stride, RPNConfig.from_config(cfg)),
                   Res5ROIHeads.from_config(cfg, res4.stride), DetectionInputs.from_config(cfg),
                   bf16=cfg.SOLVER.AMP.ENABLED, multi_scale=multi_scale_from_config(cfg))

    @property
    def mask_on(self) -> bool:
        return self.roi_heads.mask_head is not None

    def forward(self, images: Sequence[torch.Tensor], targets: Sequence[dict[str, torch.Tensor]] | None = None,
                test_size: tuple[int, int] | None = None) -> dict[str, torch.Tensor] | list[Instances]:
        """Losses in training; detections in eval mode, at ``test_size`` (shorter side, longest side)
        instead of ``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST`` when given."""
        if not self.training:
            with bf16_autocast(self.device_type, self.bf16):
                batch = self.roi_features(images, test_size)
                detections = self.roi_heads.inference(batch.res5, self.proposals(batch), batch.inputs.image_sizes)
            return self.to_input_frame(detections, batch.inputs, images)
        if targets is None:
            raise ValueError("training mode needs targets; call model.eval() for inference")
        inputs = self.inputs(images, targets)
        assert inputs.targets is not None
        with bf16_autocast(self.device_type, self.bf16):
            features = self._res4(inputs.tensor)
            rpn = self.proposal_generator(features, inputs.image_sizes, [t["boxes"] for t in inputs.targets])
            return {**rpn.losses, **self.roi_heads(features, rpn.proposals, inputs.image_sizes, inputs.targets)}

    @property
    def device_type(self) -> str:
        return self.backbone.stem.conv1.weight.device.type

    def _res4(self, batch: torch.Tensor) -> torch.Tensor:
        if self.backbone.stem.conv1.weight.is_contiguous(memory_format=torch.channels_last):
            batch = batch.contiguous(memory_format=torch.channels_last)
        return self.backbone(batch)["res4"]

    def roi_features(self, images: Sequence[torch.Tensor], test_size: tuple[int, int] | None = None
                     ) -> RoIFeatures:
        """A test batch's res4 and RoI features: pooled from that res4, or with ``TEST.MULTI_SCALE``
        from the res4 of each pyramid level (a level of the test size reuses it)."""
        inputs = self.inputs(images, None, test_size)
        features = self._res4(inputs.tensor)
        if self.multi_scale is None:
            return RoIFeatures(inputs, features, self.roi_heads.res5_maps(features))
        ms = self.multi_scale
        levels = [self.inputs(images, None, (short, ms.max_size)) for short in ms.min_sizes]
        res4 = [features if level.image_sizes == inputs.image_sizes else self._res4(level.tensor) for level in levels]
        return RoIFeatures(inputs, features, PyramidRes5.from_inputs(self.roi_heads, res4, levels, inputs,
                                                                     ms.target_size))

    def proposals(self, batch: RoIFeatures) -> list[torch.Tensor]:
        """The RPN's test proposals of each image, in its resized input."""
        return self.proposal_generator(batch.res4, batch.inputs.image_sizes, None).proposals

    def mask_probs_at(self, images: Sequence[torch.Tensor], boxes: list[torch.Tensor], labels: list[torch.Tensor],
                      test_size: tuple[int, int] | None = None) -> list[torch.Tensor]:
        """Each image's mask probabilities (R x 14 x 14) for given boxes (in its pixels) and labels,
        from its features at ``test_size``: the mask pass of test-time augmentation."""
        with bf16_autocast(self.device_type, self.bf16):
            batch = self.roi_features(images, test_size)  # no proposals: the boxes are given
            scaled = [scale_boxes(b, sx, sy) for b, (sx, sy) in zip(boxes, batch.inputs.scales)]
            probs = self.roi_heads.mask_probs(batch.res5, scaled, torch.cat(labels))
        return list(probs.split([b.shape[0] for b in boxes]))

    def to_input_frame(self, detections: list[Instances], inputs: PreparedInputs,
                       images: Sequence[torch.Tensor]) -> list[Instances]:
        """Each image's detections back to its own pixels (clipped), masks pasted at its resolution."""
        return [self._to_input_frame(det, scale, image.shape[-2:])
                for det, scale, image in zip(detections, inputs.scales, images)]

    @staticmethod
    def _to_input_frame(det: Instances, scale: tuple[float, float], size: tuple[int, int]) -> Instances:
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
