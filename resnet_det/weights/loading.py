"""Loading a state dict into a model: every misfit reported at once, and the one rule by which
classifiers and detectors take a checkpoint."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from resnet_det.errors import UserError
from resnet_det.weights.formats import Weights

logger = logging.getLogger(__name__)
_SHOWN = 5  # keys named per kind of misfit

@dataclass
class LoadReport:
    """What did not fit when a state dict was loaded into a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        """One line: each kind of misfit with its count and first few keys."""
        def few(items: list[str]) -> str:
            return ", ".join(items[:_SHOWN]) + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
        parts = []
        if self.missing:
            parts.append(f"missing in checkpoint ({len(self.missing)}): {few(self.missing)}")
        if self.unexpected:
            parts.append(f"not in model ({len(self.unexpected)}): {few(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{key}: model {want}, checkpoint {got}" for key, want, got in self.mismatched]
            parts.append(f"shape mismatch ({len(shapes)}): {few(shapes)}")
        return "; ".join(parts) or "all keys matched"

class WeightsMismatchError(UserError, ValueError):
    """The checkpoint does not fit the model; ``report`` says how."""

    def __init__(self, report: LoadReport, source: str = "checkpoint") -> None:
        super().__init__(f"{source} does not fit the model: {report}")
        self.report = report

def load_state_dict_checked(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *,
                            strict: bool = True, source: str = "checkpoint") -> LoadReport:
    """Load what fits; with ``strict`` raise :class:`WeightsMismatchError` unless everything fits.

    Unlike ``nn.Module.load_state_dict``, shape mismatches are reported alongside missing and
    unexpected keys instead of failing one at a time.
    """
    own = model.state_dict()
    report = LoadReport(
        missing=sorted(k for k in own if k not in state_dict and not k.endswith("num_batches_tracked")),
        # A step counter of a BatchNorm means nothing to a frozen or folded layer.
        unexpected=sorted(k for k in state_dict if k not in own and not k.endswith("num_batches_tracked")),
        mismatched=[(k, tuple(own[k].shape), tuple(v.shape)) for k, v in state_dict.items()
                    if k in own and own[k].shape != v.shape],
    )
    if strict and not report.ok:
        raise WeightsMismatchError(report, source)
    bad = {k for k, _, _ in report.mismatched}
    fitting = {k: v for k, v in state_dict.items() if k in own and k not in bad}
    model.load_state_dict(fitting, strict=False)
    return report

def apply_weights(model: nn.Module, weights: Weights, state: Mapping[str, torch.Tensor], source: str, *,
                  model_style: str, class_predictors: tuple[str, ...], strict: bool = False,
                  missing_ok: bool = False) -> LoadReport:
    """The one rule by which classifiers and detectors take a checkpoint's ``state`` (``weights``'s,
    renamed for ``model``): weights of another style than ``model_style`` are refused; the
    ``class_predictors`` of a checkpoint trained on another number of classes are skipped, each
    logged (fine-tuning), unless ``strict``; anything else that does not fit is refused, missing
    keys too unless ``missing_ok`` (a backbone into a detector, whose heads start fresh)."""
    if weights.weight_style and weights.weight_style != model_style:
        raise WeightsMismatchError(LoadReport(), f"{source} holds {weights.weight_style}-style weights but the model "
                                   f"is configured for {model_style} (set MODEL.WEIGHT_STYLE)")
    own = model.state_dict()
    skipped = [k for k, v in state.items() if not strict and k.startswith(class_predictors)
               and k in own and own[k].shape != v.shape]
    for key in skipped:
        logger.warning("%s: skipping %s (checkpoint %s, model %s): other classes", source, key,
                       tuple(state[key].shape), tuple(own[key].shape))
    report = load_state_dict_checked(model, {k: v for k, v in state.items() if k not in skipped}, strict=False,
                                     source=source)
    missing = [k for k in report.missing if k not in skipped and not missing_ok]
    if report.unexpected or report.mismatched or missing:
        raise WeightsMismatchError(report, source)
    return report
