"""The C4 RoI head, composed of its parts as detectron2's ``Res5ROIHeads(pooler, res5, box_predictor,
mask_head)``: a pooler on res4, res5 (strided) and global pooling per RoI, a box predictor and, for
Mask R-CNN, a mask head on the same res5 maps."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from resnet_det.config import CfgNode
from resnet_det.modeling.detection.box_head import ClassBoxes, FastRCNNOutputLayers, detect
from resnet_det.modeling.detection.mask_head import MaskHead, attach_masks
from resnet_det.modeling.detection.poolers import ROIPooler
from resnet_det.modeling.detection.roi_sampling import RoISampling, sample_rois
from resnet_det.modeling.detection.structures import Instances
from resnet_det.modeling.resnet import build_stage, stage_specs
from resnet_det.weights.styles import get_weight_style

# Each image's boxes (in its resized input) -> their res5 maps, R x C x 7 x 7: pooled from one
# feature map, or from an image pyramid (multi-scale testing).
Res5Maps = Callable[[list[torch.Tensor]], torch.Tensor]


def build_res5_head(depth: int, *, stride_in_1x1: bool, norm: str, res5_dilation: int = 1,
                    zero_init_last: bool = False, shortcut: str = "B") -> tuple[nn.Sequential, int]:
    """The trunk's res5 stage as a per-RoI head, and its output channels.

    The block type follows the depth (basic for 18/34), so a classifier's res5 weights load at
    every depth. The first block halves the 14x14 RoI to 7x7, unless dilated (DC5 style).
    """
    spec = stage_specs(depth)[-1]
    res5 = build_stage(spec, stride=1 if res5_dilation > 1 else 2, stride_in_1x1=stride_in_1x1, shortcut=shortcut,
                       norm=norm, dilation=res5_dilation)
    if zero_init_last:
        for b in res5:
            b.zero_init_last()
    return res5, spec.out_channels


def whole_image_boxes(image_sizes: list[tuple[int, int]], like: torch.Tensor) -> list[torch.Tensor]:
    """One box per image covering all of it (the RoI of the global context)."""
    return [like.new_tensor([[0.0, 0.0, float(w), float(h)]]) for h, w in image_sizes]


class Res5ROIHeads(nn.Module):
    """res5 as the per-RoI head: ``pooler`` crops res4 at each RoI, ``res5`` (in the block type of
    the trunk's depth) and global pooling make its feature, ``box_predictor`` scores it and
    ``mask_head`` (Mask R-CNN) predicts its mask from the same res5 maps. ``sampling`` picks the RoIs
    of the losses. With ``global_context`` (the paper's Appendix B) the whole image, pooled through
    res5, is concatenated to every RoI's feature, so the predictor takes twice res5's channels."""

    def __init__(self, pooler: ROIPooler, res5: nn.Sequential, box_predictor: FastRCNNOutputLayers,
                 mask_head: MaskHead | None = None, *, sampling: RoISampling | None = None,
                 global_context: bool = False) -> None:
        super().__init__()
        self.pooler, self.res5, self.box_predictor, self.mask_head = pooler, res5, box_predictor, mask_head
        self.sampling, self.global_context = sampling or RoISampling(), global_context

    @classmethod
    def from_config(cls, cfg: CfgNode, feature_stride: int) -> Res5ROIHeads:
        m = cfg.MODEL
        res5, channels = build_res5_head(m.RESNETS.DEPTH, stride_in_1x1=get_weight_style(m.WEIGHT_STYLE).stride_in_1x1,
                                         norm=m.RESNETS.NORM, res5_dilation=m.RESNETS.RES5_DILATION,
                                         zero_init_last=m.RESNETS.ZERO_INIT_LAST, shortcut=m.RESNETS.SHORTCUT or "B")
        global_context = m.ROI_BOX_HEAD.GLOBAL_CONTEXT
        return cls(ROIPooler.from_config(cfg, feature_stride), res5,
                   FastRCNNOutputLayers.from_config(cfg, channels * (2 if global_context else 1)),
                   MaskHead.from_config(cfg, channels) if m.MASK_ON else None,
                   sampling=RoISampling.from_config(cfg), global_context=global_context)

    @property
    def num_classes(self) -> int:
        return self.box_predictor.num_classes

    def pooled_res5(self, features: torch.Tensor, rois: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """The pooler on res4 at the given RoIs (per-image boxes, or K x 5 rows of batch index and
        box), then res5: K x C x 7 x 7."""
        return self.res5(self.pooler(features, rois))

    def res5_maps(self, features: torch.Tensor) -> Res5Maps:
        """The single-scale source of RoI features: pooled from ``features``."""
        return partial(self.pooled_res5, features)

    def _box_features(self, maps: torch.Tensor, res5: Res5Maps, counts: list[int],
                      image_sizes: list[tuple[int, int]]) -> torch.Tensor:
        """RoI features for the predictor: each RoI's res5 maps averaged, followed by its image's
        whole-image feature when global context is on."""
        pooled = maps.mean(dim=(2, 3))
        if not self.global_context:
            return pooled
        context = res5(whole_image_boxes(image_sizes, pooled)).mean(dim=(2, 3))
        # output_size from the host counts: no wait for the device to sum the repeats
        repeats = torch.tensor(counts, device=pooled.device)
        return torch.cat([pooled, context.repeat_interleave(repeats, dim=0, output_size=sum(counts))], 1)

    def forward(self, features: torch.Tensor, proposals: list[torch.Tensor], image_sizes: list[tuple[int, int]],
                targets: list[dict[str, torch.Tensor]] | None = None) -> dict[str, torch.Tensor] | list[Instances]:
        """Training: a dict of losses. Inference: each image's :class:`Instances` in the resized input,
        with mask probabilities (R x 14 x 14) for Mask R-CNN."""
        if self.training:
            if targets is None:
                raise ValueError("training the RoI heads needs targets")
            return self._losses(features, proposals, image_sizes, targets)
        return self.inference(self.res5_maps(features), proposals, image_sizes)

    def inference(self, res5: Res5Maps, proposals: list[torch.Tensor],
                  image_sizes: list[tuple[int, int]]) -> list[Instances]:
        """Detections (and mask probabilities) of ``proposals`` from the RoI features ``res5`` gives."""
        results = detect(partial(self.class_boxes, res5, image_sizes=image_sizes), proposals, image_sizes,
                         self.box_predictor.test)
        if self.mask_head is not None:
            labels = torch.cat([r.labels for r in results])
            attach_masks(results, self.mask_probs(res5, [r.boxes for r in results], labels))
        return results

    def mask_probs(self, res5: Res5Maps, boxes: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """Each box's mask probabilities for its label, R x 14 x 14."""
        if self.mask_head is None:
            raise ValueError("this head has no mask head (MODEL.MASK_ON False)")
        # An exported graph has no branch on the count; its mask head runs on zero RoIs too.
        if torch.compiler.is_exporting() or len(labels):
            return self.mask_head.probs(res5(boxes), labels)
        return labels.new_zeros((0, 14, 14), dtype=torch.float32)

    def _losses(self, features: torch.Tensor, proposals: list[torch.Tensor], image_sizes: list[tuple[int, int]],
                targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        sampled = sample_rois(proposals, targets, self.sampling, self.num_classes)
        boxes = [s.boxes for s in sampled]
        classes = torch.cat([s.classes for s in sampled])
        maps = self.pooled_res5(features, boxes)
        scores, deltas = self.box_predictor(self._box_features(maps, self.res5_maps(features),
                                                               [b.shape[0] for b in boxes], image_sizes))
        losses = self.box_predictor.losses(scores, deltas, sampled, classes)
        if self.mask_head is not None:
            losses["loss_mask"] = self.mask_head.loss(maps, sampled, classes)
        return losses

    def class_boxes(self, res5: Res5Maps, proposals: list[torch.Tensor],
                    image_sizes: list[tuple[int, int]]) -> list[ClassBoxes]:
        """Each image's class probabilities (P x K, background dropped) and class-specific boxes
        (P x K x 4, clipped to the image), predicted from its proposals' RoI features."""
        counts = [x.shape[0] for x in proposals]  # not len(), which an exported graph cannot take of a dynamic size
        scores, deltas = self.box_predictor(self._box_features(res5(proposals), res5, counts, image_sizes))
        return self.box_predictor.class_boxes(scores, deltas, proposals, image_sizes)
