"""Box encoding shared by the RPN and the RoI head."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import nms

# Deltas are clamped before exp() so a box never grows past 1000/16 of its source (detectron2's bound).
SCALE_CLAMP = math.log(1000.0 / 16)


def box_coder(weights: Sequence[float]) -> BoxCoder:
    """torchvision's box coder with detectron2's clamp: ``encode_single``/``decode_single``."""
    return BoxCoder(tuple(weights), bbox_xform_clip=SCALE_CLAMP)



def scale_boxes(boxes: torch.Tensor, sx: float, sy: float) -> torch.Tensor:
    """A float32 copy of xyxy ``boxes`` with x scaled by ``sx`` and y by ``sy``. The factors go to
    the kernels as scalars: a tensor built from them would be a host-to-device copy, which waits
    for the GPU's queue to drain."""
    out = boxes.to(torch.float32, copy=True)
    out[:, 0::2] *= sx
    out[:, 1::2] *= sy
    return out


@torch.library.register_fake("torchvision::nms")
def _nms_shape(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """The shape of NMS's output when tracing: any number of kept indices, none included.

    torchvision 0.29's own says at least two, so an exported detector would refuse, at run time, an
    image with fewer than two detections; this one replaces it.
    """
    torch._check(boxes.dim() == 2 and boxes.size(1) == 4, lambda: f"boxes must be N x 4, got {tuple(boxes.shape)}")
    torch._check(scores.dim() == 1 and scores.size(0) == boxes.size(0),
                 lambda: f"scores must be N, got {tuple(scores.shape)} for {boxes.size(0)} boxes")
    return boxes.new_empty(torch.library.get_ctx().new_dynamic_size(), dtype=torch.long)


def class_wise_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float,
                   image_size: tuple[int, int]) -> torch.Tensor:
    """Indices kept by NMS within each class, by decreasing score, for boxes clipped to ``image_size``.

    One NMS over the boxes shifted by ``label * (longest side + 1)``, so boxes of different classes
    never overlap. The shift comes from the image size rather than the largest coordinate
    (torchvision's ``batched_nms``), so no reduction over a possibly empty tensor is needed and an
    exported graph has no branch on the number of boxes.
    """
    offsets = labels.to(boxes.dtype) * float(max(image_size) + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)
