"""The paper's multi-scale testing (Appendix B, following Ren et al.'s "Object Detection Networks on
Convolutional Feature Maps"): RoI features computed on an image pyramid, each RoI pooled at the two
adjacent scales around the pre-training size, and the two merged by maxout."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from resnet_det.config import CfgNode, ConfigValueError
from resnet_det.config.keyed import FromConfig, keyed
from resnet_det.modeling.detection.inputs import PreparedInputs
from resnet_det.modeling.detection.roi_heads import Res5ROIHeads


@dataclass(frozen=True)
class MultiScaleConfig(FromConfig):
    """``TEST.MULTI_SCALE``: the pyramid's shorter sides (ascending), the longest side allowed, and
    the RoI size (square root of its area, pixels) the scale pair is chosen around."""

    min_sizes: tuple[int, ...] = keyed("TEST.MULTI_SCALE.MIN_SIZES")
    max_size: int = keyed("TEST.MULTI_SCALE.MAX_SIZE")
    target_size: float = keyed("TEST.MULTI_SCALE.TARGET_SIZE", float)

    def __post_init__(self) -> None:
        sizes = self.min_sizes
        if not sizes or any(s <= 0 for s in sizes) or list(sizes) != sorted(set(sizes)):
            raise ConfigValueError(f"TEST.MULTI_SCALE.MIN_SIZES must be positive and ascending, got {sizes}")


def multi_scale_from_config(cfg: CfgNode) -> MultiScaleConfig | None:
    """The pyramid of ``TEST.MULTI_SCALE``, or None unless it is enabled."""
    return MultiScaleConfig.from_config(cfg) if cfg.TEST.MULTI_SCALE.ENABLED else None


def adjacent_scales(sides: torch.Tensor, target: float) -> torch.Tensor:
    """The lower index ``i`` of the pair of scales ``(i, i + 1)`` between which each RoI's side
    crosses ``target``: ``sides`` is S x R, each RoI's side at each scale (ascending). RoIs
    smaller than the target at every scale take the top pair, larger at every scale the bottom."""
    if sides.shape[0] == 1:
        return sides.new_zeros(sides.shape[1], dtype=torch.int64)
    return ((sides < target).sum(dim=0) - 1).clamp(0, sides.shape[0] - 2)


class PyramidRes5:
    """RoI res5 maps (:data:`~resnet_det.modeling.detection.roi_heads.Res5Maps`) from a pyramid:
    boxes in the base input (where the RPN ran) are scaled to each level, pooled at their two
    adjacent levels, run through res5, and merged by the element-wise maximum of the two."""

    def __init__(self, heads: Res5ROIHeads, levels: list[torch.Tensor], factors: torch.Tensor, target: float) -> None:
        """``levels``: res4 of each pyramid level (ascending); ``factors``: S x N x 2, each level's
        (x, y) scale of each image relative to the base input."""
        self.heads, self.levels, self.factors, self.target = heads, levels, factors, target

    @classmethod
    def from_inputs(cls, heads: Res5ROIHeads, levels: list[torch.Tensor], level_inputs: list[PreparedInputs],
                    base: PreparedInputs, target: float) -> PyramidRes5:
        factors = torch.tensor([[[lx / bx, ly / by] for (lx, ly), (bx, by) in zip(level.scales, base.scales)]
                                for level in level_inputs])
        return cls(heads, levels, factors.to(levels[0].device), target)

    def __call__(self, boxes: list[torch.Tensor]) -> torch.Tensor:
        rois = torch.cat(boxes).float()
        image = torch.cat([torch.full((b.shape[0],), i, device=rois.device) for i, b in enumerate(boxes)])
        fx, fy = self.factors[:, image, 0], self.factors[:, image, 1]  # S x R
        area = ((rois[:, 2] - rois[:, 0]) * (rois[:, 3] - rois[:, 1])).clamp(min=0)
        pair = adjacent_scales((area * fx * fy).sqrt(), self.target)
        merged: torch.Tensor | None = None
        for level, features in enumerate(self.levels):
            use = ((pair == level) | (pair == level - 1)).nonzero().squeeze(1)
            if use.numel() == 0:
                continue
            scale = torch.stack([fx[level, use], fy[level, use]] * 2, dim=1)
            maps = self.heads.pooled_res5(features, torch.cat([image[use, None].float(), rois[use] * scale], 1))
            if merged is None:
                merged = maps.new_full((rois.shape[0], *maps.shape[1:]), float("-inf"))
            merged[use] = torch.maximum(merged[use], maps)
        if merged is None:  # no RoIs at all
            return self.heads.pooled_res5(self.levels[0], rois.new_zeros((0, 5)))
        return merged
