"""The box predictor of the RoI head (detectron2's ``FastRCNNOutputLayers``): class scores and
class-specific box deltas from each RoI's feature, their losses, and the selection of detections
(score threshold, NMS within classes, the paper's box refinement)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, clip_boxes_to_image

from resnet_det.config import CfgNode
from resnet_det.config.keyed import FromConfig, keyed
from resnet_det.modeling.detection.box_ops import box_coder, class_wise_nms
from resnet_det.modeling.detection.roi_sampling import SampledRoIs
from resnet_det.modeling.detection.structures import Instances


@dataclass(frozen=True)
class BoxTestConfig(FromConfig):
    """How scored proposals become detections: the score threshold, NMS within each class, how many
    per image, and the paper's box refinement (Appendix B: a second pass from the regressed boxes,
    NMS at ``refinement_nms_thresh`` over both passes, box voting at ``voting_iou``)."""

    score_thresh: float = keyed("MODEL.ROI_HEADS.SCORE_THRESH_TEST")
    nms_thresh: float = keyed("MODEL.ROI_HEADS.NMS_THRESH_TEST")
    detections_per_image: int = keyed("TEST.DETECTIONS_PER_IMAGE")
    box_refinement: bool = keyed("MODEL.ROI_HEADS.BOX_REFINEMENT.ENABLED")
    refinement_nms_thresh: float = keyed("MODEL.ROI_HEADS.BOX_REFINEMENT.NMS_THRESH")
    voting_iou: float = keyed("MODEL.ROI_HEADS.BOX_REFINEMENT.VOTING_IOU")


@dataclass
class ClassBoxes:
    """One image's candidates before selection: class probabilities (P x K), class-specific boxes
    (P x K x 4) and whether each proposal's outputs are finite (P)."""

    probs: torch.Tensor
    boxes: torch.Tensor
    finite: torch.Tensor


class FastRCNNOutputLayers(nn.Module):
    """Class scores (background last, as detectron2) and class-specific box deltas from pooled
    features, coded with ``bbox_reg_weights``; ``test`` says how detections are selected."""

    def __init__(self, channels: int, num_classes: int, bbox_reg_weights: tuple[float, ...] = (10.0, 10.0, 5.0, 5.0),
                 test: BoxTestConfig | None = None) -> None:
        super().__init__()
        self.num_classes, self.test = num_classes, test or BoxTestConfig()
        self.cls_score = nn.Linear(channels, num_classes + 1)
        self.bbox_pred = nn.Linear(channels, num_classes * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)
        self.box_coder = box_coder(bbox_reg_weights)

    @classmethod
    def from_config(cls, cfg: CfgNode, channels: int) -> FastRCNNOutputLayers:
        return cls(channels, cfg.MODEL.ROI_HEADS.NUM_CLASSES, tuple(cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS),
                   BoxTestConfig.from_config(cfg))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cls_score(x), self.bbox_pred(x)

    def class_boxes(self, scores: torch.Tensor, deltas: torch.Tensor, proposals: list[torch.Tensor],
                    image_sizes: list[tuple[int, int]]) -> list[ClassBoxes]:
        """Each image's class probabilities (P x K, background dropped) and class-specific boxes
        (P x K x 4, clipped to the image) from the predictions of its proposals."""
        counts = [x.shape[0] for x in proposals]  # not len(), which an exported graph cannot take of a dynamic size
        probs = scores.float().softmax(dim=1)[:, :-1]
        props = torch.cat(proposals)
        boxes = self.box_coder.decode_single(deltas.float().reshape(-1, 4),
                                             props.repeat_interleave(self.num_classes, dim=0))
        boxes = boxes.view(-1, self.num_classes, 4)
        return [ClassBoxes(p, clip_boxes_to_image(b, size),
                           torch.isfinite(b).all(dim=(1, 2)) & torch.isfinite(p).all(dim=1))
                for p, b, size in zip(probs.split(counts), boxes.split(counts), image_sizes)]

    def losses(self, scores: torch.Tensor, deltas: torch.Tensor, sampled: list[SampledRoIs],
               classes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy of the sampled RoIs' ``classes``, and L1 of their class's deltas on the
        foreground, summed and divided by all sampled RoIs (detectron2's normalisation)."""
        fg = classes < self.num_classes
        # Regression targets for every sampled RoI, zeroed and masked out on the background: no
        # boolean indexing, so no wait for the device to count the foreground.
        gt_deltas = torch.cat([self.box_coder.encode_single(s.target["boxes"][s.matched], s.boxes)
                               if len(s.target["boxes"]) else torch.zeros_like(s.boxes) for s in sampled])
        gt_deltas = torch.where(fg[:, None], gt_deltas, 0.0)
        rows = torch.arange(len(classes), device=classes.device)
        class_deltas = deltas.view(len(deltas), -1, 4)[rows, classes.clamp(max=self.num_classes - 1)]
        box_loss = torch.where(fg[:, None], F.l1_loss(class_deltas.float(), gt_deltas, reduction="none"), 0.0).sum()
        return {"loss_cls": F.cross_entropy(scores.float(), classes), "loss_box_reg": box_loss / max(len(classes), 1)}


def select_detections(found: ClassBoxes, size: tuple[int, int], cfg: BoxTestConfig, nms_thresh: float,
                      voting_iou: float = 0.0) -> Instances:
    """Score threshold, per-class NMS and the top ``detections_per_image``; with ``voting_iou``,
    each kept box becomes the score-weighted mean of the candidates of its class overlapping it
    by at least that much (box voting, Gidaris and Komodakis 2015)."""
    keep = (found.finite[:, None] & (found.probs > cfg.score_thresh)).nonzero()
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
           image_sizes: list[tuple[int, int]], cfg: BoxTestConfig) -> list[Instances]:
    """Detections from ``score`` (each image's boxes -> its :class:`ClassBoxes`): selection of the
    scored proposals; with box refinement (the paper's Appendix B), a second pass from each
    proposal's regressed box of its best class, the union of both passes, NMS at
    ``refinement_nms_thresh`` and box voting. ``score`` is one head's, or an ensemble's average."""
    first = score(proposals)
    if not cfg.box_refinement:
        return [select_detections(f, size, cfg, cfg.nms_thresh) for f, size in zip(first, image_sizes)]
    regressed = [f.boxes[torch.arange(f.boxes.shape[0], device=f.boxes.device), f.probs.argmax(dim=1)]
                 for f in first]
    second = score(regressed)
    return [select_detections(ClassBoxes(torch.cat([a.probs, b.probs]), torch.cat([a.boxes, b.boxes]),
                                         torch.cat([a.finite, b.finite])),
                              size, cfg, cfg.refinement_nms_thresh, cfg.voting_iou)
            for a, b, size in zip(first, second, image_sizes)]
