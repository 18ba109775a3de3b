"""The region proposal network on res4 (Ren et al.), with detectron2's targets, losses and parameter names."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, clip_boxes_to_image, nms

from resnet_det.config.keyed import FromConfig, keyed
from resnet_det.modeling.detection.anchors import AnchorGenerator
from resnet_det.modeling.detection.box_ops import box_coder
from resnet_det.modeling.detection.matching import check_match_rule, match_boxes, sample_labels


class RPNHead(nn.Module):
    """A shared 3x3 conv and ReLU, then per-anchor objectness logits and box deltas (1x1 convs)."""

    def __init__(self, channels: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.objectness_logits = nn.Conv2d(channels, num_anchors, 1)
        self.anchor_deltas = nn.Conv2d(channels, num_anchors * 4, 1)
        for layer in (self.conv, self.objectness_logits, self.anchor_deltas):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N x HWA logits, N x HWA x 4 deltas)``, ordered as the anchors."""
        t = F.relu(self.conv(x))
        logits = self.objectness_logits(t).permute(0, 2, 3, 1).flatten(1)
        n, _, h, w = x.shape
        deltas = self.anchor_deltas(t).view(n, -1, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
        return logits, deltas


@dataclass(frozen=True)
class RPNConfig(FromConfig):
    """The RPN's settings (detectron2's MODEL.RPN and MODEL.ANCHOR_GENERATOR, one feature map)."""

    anchor_sizes: tuple[float, ...] = keyed("MODEL.ANCHOR_GENERATOR.SIZES", lambda v: tuple(v[0]))
    aspect_ratios: tuple[float, ...] = keyed("MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", lambda v: tuple(v[0]))
    # detectron2's Matcher: a best IoU in [thresholds[i-1], thresholds[i]) gets labels[i].
    iou_thresholds: tuple[float, ...] = keyed("MODEL.RPN.IOU_THRESHOLDS")
    iou_labels: tuple[int, ...] = keyed("MODEL.RPN.IOU_LABELS")
    batch_size_per_image: int = keyed("MODEL.RPN.BATCH_SIZE_PER_IMAGE")
    positive_fraction: float = keyed("MODEL.RPN.POSITIVE_FRACTION")
    bbox_reg_weights: tuple[float, ...] = keyed("MODEL.RPN.BBOX_REG_WEIGHTS")
    pre_nms_topk_train: int = keyed("MODEL.RPN.PRE_NMS_TOPK_TRAIN")
    post_nms_topk_train: int = keyed("MODEL.RPN.POST_NMS_TOPK_TRAIN")
    pre_nms_topk_test: int = keyed("MODEL.RPN.PRE_NMS_TOPK_TEST")
    post_nms_topk_test: int = keyed("MODEL.RPN.POST_NMS_TOPK_TEST")
    nms_thresh: float = keyed("MODEL.RPN.NMS_THRESH")
    min_box_size: float = keyed("MODEL.PROPOSAL_GENERATOR.MIN_SIZE")
    loss_weight: float = keyed("MODEL.RPN.LOSS_WEIGHT")

    def __post_init__(self) -> None:
        check_match_rule(self.iou_thresholds, self.iou_labels, "MODEL.RPN")


@dataclass
class RPNOutput:
    """Each image's proposals (xyxy, in the resized input) and, in training, the RPN's losses."""

    proposals: list[torch.Tensor]
    losses: dict[str, torch.Tensor]


class RPN(nn.Module):
    """Proposals from one feature map; in training also the objectness and box-delta losses."""

    def __init__(self, in_channels: int, stride: int, cfg: RPNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.anchor_generator = AnchorGenerator(cfg.anchor_sizes, cfg.aspect_ratios, stride)
        self.rpn_head = RPNHead(in_channels, self.anchor_generator.num_anchors)
        self.box_coder = box_coder(cfg.bbox_reg_weights)

    def forward(self, features: torch.Tensor, image_sizes: list[tuple[int, int]],
                gt_boxes: list[torch.Tensor] | None = None) -> RPNOutput:
        """Proposals for each image; in training also the losses, which need ``gt_boxes``."""
        anchors = self.anchor_generator(*features.shape[-2:])
        logits, deltas = self.rpn_head(features)
        losses = {}
        if self.training:
            if gt_boxes is None:
                raise ValueError("training the RPN needs ground-truth boxes")
            losses = self.losses(anchors, logits, deltas, gt_boxes)
        with torch.no_grad():
            proposals = self.proposals(anchors, logits.detach(), deltas.detach(), image_sizes)
        return RPNOutput(proposals, losses)

    def proposals(self, anchors: torch.Tensor, logits: torch.Tensor, deltas: torch.Tensor,
                  image_sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """Top-k by objectness, decode, clip, drop empty boxes, NMS, keep the post-NMS top-k."""
        pre = self.cfg.pre_nms_topk_train if self.training else self.cfg.pre_nms_topk_test
        post = self.cfg.post_nms_topk_train if self.training else self.cfg.post_nms_topk_test
        top_logits, top_idx = logits.topk(min(pre, logits.shape[1]), dim=1)
        batch = torch.arange(len(logits), device=logits.device)[:, None]
        top_boxes = self.box_coder.decode_single(deltas[batch, top_idx].reshape(-1, 4),
                                                 anchors[top_idx].reshape(-1, 4)).view(len(logits), -1, 4)
        finite = torch.isfinite(top_boxes).all(dim=2) & torch.isfinite(top_logits)
        if self.training and not finite.all():  # one check for the batch
            raise FloatingPointError("predicted RPN boxes or logits are not finite during training")
        out_boxes = []
        for boxes, scores, usable, size in zip(top_boxes, top_logits, finite, image_sizes):
            # ``usable`` was judged before clipping, which would turn infinities into image edges.
            boxes = clip_boxes_to_image(boxes, size)
            w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            keep = (usable & (w > self.cfg.min_box_size) & (h > self.cfg.min_box_size)).nonzero().squeeze(1)
            boxes, scores = boxes[keep], scores[keep]
            keep = nms(boxes, scores, self.cfg.nms_thresh)[:post]
            out_boxes.append(boxes[keep])
        return out_boxes

    def losses(self, anchors: torch.Tensor, logits: torch.Tensor, deltas: torch.Tensor,
               gt_boxes: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Binary cross-entropy on sampled anchors and L1 on positive ones, both summed and divided
        by (anchors sampled per image x images), as detectron2 does."""
        labels, targets = [], []
        for boxes in gt_boxes:
            if len(boxes):
                match = match_boxes(box_iou(boxes, anchors), self.cfg.iou_thresholds, self.cfg.iou_labels,
                                    allow_low_quality=True)
                labels.append(match.label)
                targets.append(self.box_coder.encode_single(boxes[match.index], anchors))
            else:  # every anchor is background
                labels.append(torch.zeros(len(anchors), dtype=torch.int64, device=anchors.device))
                targets.append(torch.zeros_like(anchors))
        labels, targets = torch.stack(labels), torch.stack(targets)
        positive, negative = sample_labels(labels == 1, labels == 0, self.cfg.batch_size_per_image,
                                           self.cfg.positive_fraction)
        # Masked sums rather than boolean indexing, which would wait for the device to count the
        # samples; unsampled targets are zeroed first so a degenerate box's inf cannot leak in.
        targets = torch.where(positive[..., None], targets, 0.0)
        normalizer = self.cfg.batch_size_per_image * len(gt_boxes)
        loss_cls = torch.where(positive | negative, F.binary_cross_entropy_with_logits(
            logits.float(), positive.float(), reduction="none"), 0.0).sum()
        loss_loc = torch.where(positive[..., None], F.l1_loss(deltas.float(), targets, reduction="none"), 0.0).sum()
        return {"loss_rpn_cls": loss_cls / normalizer * self.cfg.loss_weight,
                "loss_rpn_loc": loss_loc / normalizer * self.cfg.loss_weight}
