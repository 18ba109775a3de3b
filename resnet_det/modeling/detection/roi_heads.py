"""The C4 RoI head: a pooler on res4, res5 (strided) and global pooling per RoI, box and mask predictors."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, clip_boxes_to_image, roi_align, roi_pool

from resnet_det.config import CfgNode, ConfigValueError
from resnet_det.modeling.detection.box_ops import box_coder, class_wise_nms, scale_boxes
from resnet_det.modeling.detection.masks import crop_and_resize_masks
from resnet_det.modeling.detection.matching import check_match_rule, match_boxes, sample_labels
from resnet_det.modeling.detection.structures import Instances
from resnet_det.modeling.resnet import build_stage, stage_specs

# detectron2's names: RoIAlign with the half-pixel shift (V2, its default) or without it, and the
# quantising max pooling of Fast R-CNN, which the paper's detectors used.
POOLER_TYPES = ("ROIAlignV2", "ROIAlign", "ROIPool")

# Each image's boxes (in its resized input) -> their res5 maps, R x C x 7 x 7: pooled from one
# feature map, or from an image pyramid (multi-scale testing).
Res5Maps = Callable[[list[torch.Tensor]], torch.Tensor]


@dataclass
class ROIHeadsConfig:
    """Settings of the RoI head (detectron2's MODEL.ROI_HEADS, ROI_BOX_HEAD, ROI_MASK_HEAD)."""

    num_classes: int = 80
    batch_size_per_image: int = 512
    positive_fraction: float = 0.25
    iou_thresholds: tuple[float, ...] = (0.5,)
    iou_labels: tuple[int, ...] = (0, 1)  # detectron2's Matcher labels: -1 ignored, 0 background, 1 foreground
    proposal_append_gt: bool = True
    pooler_resolution: int = 14
    pooler_type: str = "ROIAlignV2"
    pooler_sampling_ratio: int = 0
    bbox_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    score_thresh_test: float = 0.05
    nms_thresh_test: float = 0.5
    detections_per_image: int = 100
    mask_on: bool = False
    mask_channels: int = 256
    # Appendix B's box refinement: a second pass from the regressed boxes, NMS 0.3 on the union, box voting.
    box_refinement: bool = False
    refinement_nms_thresh: float = 0.3
    voting_iou: float = 0.5
    # Appendix B's global context: the whole image pooled through res5, concatenated to each RoI's feature.
    global_context: bool = False

    def __post_init__(self) -> None:
        check_match_rule(self.iou_thresholds, self.iou_labels, "MODEL.ROI_HEADS")
        if self.pooler_type not in POOLER_TYPES:
            raise ConfigValueError(f"MODEL.ROI_BOX_HEAD.POOLER_TYPE must be one of {POOLER_TYPES}, "
                                   f"got {self.pooler_type!r}")

    @classmethod
    def from_config(cls, cfg: CfgNode) -> ROIHeadsConfig:
        m = cfg.MODEL
        return cls(num_classes=m.ROI_HEADS.NUM_CLASSES, batch_size_per_image=m.ROI_HEADS.BATCH_SIZE_PER_IMAGE,
                   positive_fraction=m.ROI_HEADS.POSITIVE_FRACTION, iou_thresholds=tuple(m.ROI_HEADS.IOU_THRESHOLDS),
                   iou_labels=tuple(m.ROI_HEADS.IOU_LABELS),
                   proposal_append_gt=m.ROI_HEADS.PROPOSAL_APPEND_GT,
                   pooler_resolution=m.ROI_BOX_HEAD.POOLER_RESOLUTION, pooler_type=m.ROI_BOX_HEAD.POOLER_TYPE,
                   pooler_sampling_ratio=m.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO,
                   bbox_reg_weights=tuple(m.ROI_BOX_HEAD.BBOX_REG_WEIGHTS),
                   score_thresh_test=m.ROI_HEADS.SCORE_THRESH_TEST, nms_thresh_test=m.ROI_HEADS.NMS_THRESH_TEST,
                   detections_per_image=cfg.TEST.DETECTIONS_PER_IMAGE, mask_on=m.MASK_ON,
                   mask_channels=m.ROI_MASK_HEAD.CONV_DIM, box_refinement=m.ROI_HEADS.BOX_REFINEMENT.ENABLED,
                   refinement_nms_thresh=m.ROI_HEADS.BOX_REFINEMENT.NMS_THRESH,
                   voting_iou=m.ROI_HEADS.BOX_REFINEMENT.VOTING_IOU,
                   global_context=m.ROI_BOX_HEAD.GLOBAL_CONTEXT)


@dataclass
class ClassBoxes:
    """One image's candidates before selection: class probabilities (P x K), class-specific boxes
    (P x K x 4) and whether each proposal's outputs are finite (P)."""

    probs: torch.Tensor
    boxes: torch.Tensor
    finite: torch.Tensor


@dataclass
class SampledRoIs:
    """One image's RoIs sampled for the losses: boxes, classes (``num_classes`` for background), the
    index of each one's matched ground truth (0 for background) and the image's target."""

    boxes: torch.Tensor
    classes: torch.Tensor
    matched: torch.Tensor
    target: dict[str, Any]


def _to_mask_frame(boxes: torch.Tensor, target: dict) -> torch.Tensor:
    """Boxes in the resized input -> the coordinates of the target's full-resolution masks."""
    sx, sy = target.get("mask_scale", (1.0, 1.0))
    return scale_boxes(boxes, 1 / sx, 1 / sy)


class FastRCNNOutputLayers(nn.Module):
    """Class scores (background last, as detectron2) and class-specific box deltas from pooled features."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(channels, num_classes + 1)
        self.bbox_pred = nn.Linear(channels, num_classes * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cls_score(x), self.bbox_pred(x)


class MaskHead(nn.Module):
    """2x2 stride-2 deconvolution, ReLU, 1x1 class-specific predictor: 7x7 res5 maps -> 14x14 logits."""

    def __init__(self, in_channels: int, channels: int, num_classes: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_channels, channels, 2, stride=2)
        self.predictor = nn.Conv2d(channels, num_classes, 1)
        nn.init.kaiming_normal_(self.deconv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.deconv.bias)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.zeros_(self.predictor.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor(F.relu(self.deconv(x)))


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


def select_detections(found: ClassBoxes, size: tuple[int, int], cfg: ROIHeadsConfig, nms_thresh: float,
                      voting_iou: float = 0.0) -> Instances:
    """Score threshold, per-class NMS and the top ``detections_per_image``; with ``voting_iou``,
    each kept box becomes the score-weighted mean of the candidates of its class overlapping it
    by at least that much (box voting, Gidaris and Komodakis 2015)."""
    keep = (found.finite[:, None] & (found.probs > cfg.score_thresh_test)).nonzero()
    rows, labels = keep.unbind(1)
    boxes, scores = found.boxes[rows, labels], found.probs[rows, labels]
    kept = class_wise_nms(boxes, scores, labels, nms_thresh, size)[:cfg.detections_per_image]
    kept_boxes = boxes[kept]
    if voting_iou > 0:
        votes = (box_iou(kept_boxes, boxes) >= voting_iou) & (labels[kept][:, None] == labels[None])
        weights = votes * scores[None]
        kept_boxes = (weights @ boxes) / weights.sum(dim=1, keepdim=True)
    return Instances(kept_boxes, scores[kept], labels[kept])


def detect(score: Callable[[list[torch.Tensor]], list[ClassBoxes]], proposals: list[torch.Tensor],
           image_sizes: list[tuple[int, int]], cfg: ROIHeadsConfig) -> list[Instances]:
    """Detections from ``score`` (each image's boxes -> its :class:`ClassBoxes`): selection of the
    scored proposals; with box refinement (the paper's Appendix B), a second pass from each
    proposal's regressed box of its best class, the union of both passes, NMS at
    ``refinement_nms_thresh`` and box voting. ``score`` is one head's, or an ensemble's average."""
    first = score(proposals)
    if not cfg.box_refinement:
        return [select_detections(f, size, cfg, cfg.nms_thresh_test) for f, size in zip(first, image_sizes)]
    regressed = [f.boxes[torch.arange(f.boxes.shape[0], device=f.boxes.device), f.probs.argmax(dim=1)]
                 for f in first]
    second = score(regressed)
    return [select_detections(ClassBoxes(torch.cat([a.probs, b.probs]), torch.cat([a.boxes, b.boxes]),
                                         torch.cat([a.finite, b.finite])),
                              size, cfg, cfg.refinement_nms_thresh, cfg.voting_iou)
            for a, b, size in zip(first, second, image_sizes)]


class Res5ROIHeads(nn.Module):
    """res5 as the per-RoI head, in the block type of the trunk's depth (basic for 18/34)."""

    def __init__(self, depth: int, cfg: ROIHeadsConfig, *, stride_in_1x1: bool, norm: str,
                 feature_stride: int = 16, res5_dilation: int = 1, shortcut: str = "B",
                 zero_init_last: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.res5, out_ch = build_res5_head(depth, stride_in_1x1=stride_in_1x1, norm=norm, res5_dilation=res5_dilation,
                                            zero_init_last=zero_init_last, shortcut=shortcut)
        self.box_predictor = FastRCNNOutputLayers(out_ch * (2 if cfg.global_context else 1), cfg.num_classes)
        self.mask_head = MaskHead(out_ch, cfg.mask_channels, cfg.num_classes) if cfg.mask_on else None
        self.spatial_scale = 1.0 / feature_stride
        self.box_coder = box_coder(cfg.bbox_reg_weights)

    def pooled_res5(self, features: torch.Tensor, rois: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """The pooler (POOLER_TYPE, 14x14) on res4 at the given RoIs (per-image boxes, or K x 5 rows
        of batch index and box), then res5: K x C x 7 x 7.

        Boxes stay float32 even under bf16 autocast: bf16 keeps 8 mantissa bits, which would move a
        box edge near x = 1200 by up to 4 pixels.
        """
        size, cfg = self.cfg.pooler_resolution, self.cfg
        rois = rois.float() if isinstance(rois, torch.Tensor) else [b.float() for b in rois]
        if cfg.pooler_type == "ROIPool":
            x = roi_pool(features.float(), rois, (size, size), self.spatial_scale)
        else:
            x = roi_align(features.float(), rois, (size, size), self.spatial_scale,
                          sampling_ratio=cfg.pooler_sampling_ratio, aligned=cfg.pooler_type == "ROIAlignV2")
        return self.res5(x)

    def res5_maps(self, features: torch.Tensor) -> Res5Maps:
        """The single-scale source of RoI features: pooled from ``features``."""
        return partial(self.pooled_res5, features)

    def _box_features(self, maps: torch.Tensor, res5: Res5Maps, counts: list[int],
                      image_sizes: list[tuple[int, int]]) -> torch.Tensor:
        """RoI features for the predictor: each RoI's res5 maps averaged, followed by its image's
        whole-image feature when global context is on."""
        pooled = maps.mean(dim=(2, 3))
        if not self.cfg.global_context:
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
            return self._forward_train(features, proposals, image_sizes, targets)
        return self.inference(self.res5_maps(features), proposals, image_sizes)

    def inference(self, res5: Res5Maps, proposals: list[torch.Tensor],
                  image_sizes: list[tuple[int, int]]) -> list[Instances]:
        """Detections (and mask probabilities) of ``proposals`` from the RoI features ``res5`` gives."""
        results = detect(partial(self.class_boxes, res5, image_sizes=image_sizes), proposals, image_sizes, self.cfg)
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
            logits = self.mask_head(res5(boxes))
        else:
            logits = labels.new_zeros((0, self.cfg.num_classes, 14, 14), dtype=torch.float32)
        return logits[torch.arange(labels.shape[0], device=labels.device), labels].float().sigmoid()

    def _sample(self, proposals: list[torch.Tensor], targets: list[dict[str, torch.Tensor]]) -> list[SampledRoIs]:
        """Match proposals (plus the ground truth) to targets and sample each image's RoIs for the
        losses. One host sync per image."""
        sampled = []
        for boxes, target in zip(proposals, targets):
            gt_boxes, gt_labels = target["boxes"], target["labels"]
            if self.cfg.proposal_append_gt:
                boxes = torch.cat([boxes, gt_boxes.to(boxes.dtype)])
            classes = torch.full((len(boxes),), self.cfg.num_classes, dtype=torch.int64, device=boxes.device)
            matched = torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device)
            label = torch.zeros(len(boxes), dtype=torch.int64, device=boxes.device)  # no ground truth: background
            if len(gt_boxes):
                match = match_boxes(box_iou(gt_boxes, boxes), self.cfg.iou_thresholds, self.cfg.iou_labels,
                                    allow_low_quality=False)
                matched, label = torch.where(match.label == 1, match.index, 0), match.label
                classes = torch.where(label == 1, gt_labels[matched], classes)
            pos, neg = sample_labels(label == 1, label == 0, self.cfg.batch_size_per_image, self.cfg.positive_fraction)
            keep = (pos | neg).nonzero().squeeze(1)
            sampled.append(SampledRoIs(boxes[keep], classes[keep], matched[keep], target))
        return sampled

    def _forward_train(self, features: torch.Tensor, proposals: list[torch.Tensor],
                       image_sizes: list[tuple[int, int]], targets: list[dict[str, torch.Tensor]]
                       ) -> dict[str, torch.Tensor]:
        sampled = self._sample(proposals, targets)
        boxes = [s.boxes for s in sampled]
        classes = torch.cat([s.classes for s in sampled])
        box_features = self.pooled_res5(features, boxes)
        scores, deltas = self.box_predictor(self._box_features(box_features, self.res5_maps(features),
                                                               [b.shape[0] for b in boxes], image_sizes))
        fg = classes < self.cfg.num_classes
        # Regression targets for every sampled RoI, zeroed and masked out on the background: no
        # boolean indexing, so no wait for the device to count the foreground.
        gt_deltas = torch.cat([self.box_coder.encode_single(s.target["boxes"][s.matched], s.boxes)
                               if len(s.target["boxes"]) else torch.zeros_like(s.boxes) for s in sampled])
        gt_deltas = torch.where(fg[:, None], gt_deltas, 0.0)
        rows = torch.arange(len(classes), device=classes.device)
        class_deltas = deltas.view(len(deltas), -1, 4)[rows, classes.clamp(max=self.cfg.num_classes - 1)]
        box_loss = torch.where(fg[:, None], F.l1_loss(class_deltas.float(), gt_deltas, reduction="none"), 0.0).sum()
        losses = {
            "loss_cls": F.cross_entropy(scores.float(), classes),
            # Summed over foreground RoIs and divided by all sampled RoIs (detectron2's normalisation).
            "loss_box_reg": box_loss / max(len(classes), 1),
        }
        if self.mask_head is not None:
            losses["loss_mask"] = self._mask_loss(box_features, sampled, fg, classes)
        return losses

    def _mask_loss(self, box_features: torch.Tensor, sampled: list[SampledRoIs], fg: torch.Tensor,
                   classes: torch.Tensor) -> torch.Tensor:
        """Per-pixel BCE of the ground-truth class's mask on foreground RoIs, reusing their res5 features."""
        fg = fg.nonzero().squeeze(1)  # the one host sync of the mask loss, for the whole batch
        if len(fg) == 0:
            return box_features.sum() * 0
        logits = self.mask_head(box_features[fg])
        size = logits.shape[-1]
        # Targets for every sampled RoI image by image (masks differ in size), then the foreground's.
        targets = torch.cat([crop_and_resize_masks(s.target["masks"], _to_mask_frame(s.boxes, s.target), size,
                                                   index=s.matched)
                             if len(s.target["boxes"]) else s.boxes.new_zeros((len(s.boxes), size, size))
                             for s in sampled])
        logits = logits[torch.arange(len(fg), device=fg.device), classes[fg]]
        return F.binary_cross_entropy_with_logits(logits.float(), targets[fg])

    def class_boxes(self, res5: Res5Maps, proposals: list[torch.Tensor],
                    image_sizes: list[tuple[int, int]]) -> list[ClassBoxes]:
        """Each image's class probabilities (P x K, background dropped) and class-specific boxes
        (P x K x 4, clipped to the image), predicted from its proposals' RoI features."""
        num_classes = self.cfg.num_classes
        counts = [x.shape[0] for x in proposals]  # not len(), which an exported graph cannot take of a dynamic size
        features = self._box_features(res5(proposals), res5, counts, image_sizes)
        scores, deltas = self.box_predictor(features)
        probs = scores.float().softmax(dim=1)[:, :-1]
        props = torch.cat(proposals)
        boxes = self.box_coder.decode_single(deltas.float().reshape(-1, 4),
                                             props.repeat_interleave(num_classes, dim=0))
        boxes = boxes.view(-1, num_classes, 4)
        return [ClassBoxes(p, clip_boxes_to_image(b, size),
                           torch.isfinite(b).all(dim=(1, 2)) & torch.isfinite(p).all(dim=1))
                for p, b, size in zip(probs.split(counts), boxes.split(counts), image_sizes)]


def attach_masks(results: list[Instances], probs: torch.Tensor) -> None:
    """Hand each image's detections its rows of ``probs`` (all images' masks, in order)."""
    for r, p in zip(results, probs.split([r.boxes.shape[0] for r in results])):
        r.masks = p
