"""Range checks of config values, run after every merge so that a bad value stops a run at start-up
with its key named, not hours in. Choices among a model's own tables (depths, norms, registered
architectures) are checked where the config becomes that model (its ``from_config``), with
:func:`check_choice`."""
from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

from fvcore.common.config import CfgNode

from resnet_det.config.files import ConfigValueError


def _positive(v: Any) -> bool:
    return v > 0


def _non_negative(v: Any) -> bool:
    return v >= 0


def _fraction(v: Any) -> bool:
    return 0 <= v <= 1


def _positive_sizes(v: Any) -> bool:
    return len(v) > 0 and all(s > 0 for s in v)


def _one_of(*choices: str) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in choices), "one of " + ", ".join(choices)


_POSITIVE = (_positive, "positive")
_NON_NEGATIVE = (_non_negative, "0 or more")
_FRACTION = (_fraction, "between 0 and 1")

# key -> (check, what a valid value is).
VALUE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "MODEL.DEVICE": (lambda v: re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None, "auto, cpu, cuda or cuda:N"),
    "MODEL.NUM_CLASSES": _POSITIVE,
    "MODEL.COMPILE.MODE": _one_of("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
    "MODEL.RPN.BATCH_SIZE_PER_IMAGE": _POSITIVE,
    "MODEL.RPN.POSITIVE_FRACTION": _FRACTION,
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN": _POSITIVE,
    "MODEL.RPN.POST_NMS_TOPK_TRAIN": _POSITIVE,
    "MODEL.RPN.PRE_NMS_TOPK_TEST": _POSITIVE,
    "MODEL.RPN.POST_NMS_TOPK_TEST": _POSITIVE,
    "MODEL.RPN.NMS_THRESH": _FRACTION,
    "MODEL.ROI_HEADS.NUM_CLASSES": _POSITIVE,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE": _POSITIVE,
    "MODEL.ROI_HEADS.POSITIVE_FRACTION": _FRACTION,
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST": _FRACTION,
    "MODEL.ROI_HEADS.NMS_THRESH_TEST": _FRACTION,
    "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION": _POSITIVE,
    "MODEL.ROI_MASK_HEAD.CONV_DIM": _POSITIVE,
    "INPUT.MIN_SIZE_TRAIN": (_positive_sizes, "one or more positive sizes"),
    "INPUT.MIN_SIZE_TRAIN_SAMPLING": _one_of("choice", "range"),
    "INPUT.MAX_SIZE_TRAIN": _POSITIVE,
    "INPUT.MIN_SIZE_TEST": (_non_negative, "0 (no resizing) or positive"),
    "INPUT.MAX_SIZE_TEST": _POSITIVE,
    "INPUT.RESIZE": _one_of("torch", "pil"),
    "INPUT.MASK_FORMAT": _one_of("polygon", "bitmask"),
    "INPUT.CROP_MODE": _one_of("scale", "random_resized"),
    "INPUT.AUTO_AUGMENT": _one_of("", "trivial_wide"),
    "INPUT.RANDOM_ERASING": ((lambda v: 0 <= v <= 1), "in [0, 1]"),
    "INPUT.NORMALIZE": _one_of("style", "per_pixel_mean"),
    "INPUT.CROP_SIZE": _POSITIVE,
    "INPUT.PAD": _NON_NEGATIVE,
    "INPUT.PROGRESSIVE_RESIZE.MIN_SIZE": _POSITIVE,
    "INPUT.PROGRESSIVE_RESIZE.START_EPOCH": _NON_NEGATIVE,
    "INPUT.PROGRESSIVE_RESIZE.END_EPOCH": _NON_NEGATIVE,
    "INPUT.PROGRESSIVE_RESIZE.MULTIPLE": _POSITIVE,
    "INPUT.COLOR_AUG": _NON_NEGATIVE,
    "INPUT.MIXUP_ALPHA": _NON_NEGATIVE,
    "INPUT.CUTMIX_ALPHA": _NON_NEGATIVE,
    "DATALOADER.NUM_WORKERS": _NON_NEGATIVE,
    "DATALOADER.ON_BAD_IMAGE": ((lambda v: v in ("skip", "fail")), "skip or fail"),
    "DATALOADER.MAX_IMAGE_PIXELS": _POSITIVE,
    "DATALOADER.REPEATED_AUGMENTATIONS": _POSITIVE,
    "SOLVER.IMS_PER_BATCH": _POSITIVE,
    "SOLVER.BASE_LR": _POSITIVE,
    "SOLVER.BASE_LR_REFERENCE_BATCH": _NON_NEGATIVE,
    "SOLVER.MOMENTUM": ((lambda v: 0 <= v < 1), "in [0, 1)"),
    "SOLVER.WEIGHT_DECAY": _NON_NEGATIVE,
    "SOLVER.WEIGHT_DECAY_NORM": _NON_NEGATIVE,
    "SOLVER.MAX_ITER": _POSITIVE,
    "SOLVER.LR_SCHEDULER_NAME": _one_of("WarmupMultiStepLR", "WarmupCosineLR", "WarmupLinearLR"),
    "SOLVER.STEPS": (lambda v: list(v) == sorted(v) and all(s > 0 for s in v), "increasing positive iterations"),
    "SOLVER.GAMMA": _POSITIVE,
    "SOLVER.WARMUP_ITERS": _NON_NEGATIVE,
    "SOLVER.WARMUP_FACTOR": ((lambda v: 0 < v <= 1), "in (0, 1]"),
    "SOLVER.WARMUP_METHOD": _one_of("linear", "constant"),
    "SOLVER.LABEL_SMOOTHING": ((lambda v: 0 <= v < 1), "in [0, 1)"),
    "SOLVER.EMA.DECAY": ((lambda v: 0 < v < 1), "in (0, 1)"),
    "SOLVER.EMA.PERIOD": _POSITIVE,
    "SOLVER.CHECKPOINT_PERIOD": _POSITIVE,
    "SOLVER.CHECKPOINT_KEEP": _NON_NEGATIVE,
    "SOLVER.CLIP_GRADIENTS.CLIP_TYPE": _one_of("norm", "value"),
    "SOLVER.CLIP_GRADIENTS.CLIP_VALUE": _POSITIVE,
    "TEST.EVAL_PERIOD": (_non_negative, "0 (off) or positive"),
    "TEST.IMS_PER_BATCH": _POSITIVE,
    "TEST.DETECTIONS_PER_IMAGE": _POSITIVE,
    "TEST.MODE": _one_of("center", "10crop", "multiscale"),
    "TEST.RESIZE": _POSITIVE,
    "TEST.CROP_SIZE": _POSITIVE,
    "TEST.AUG.MIN_SIZES": (_positive_sizes, "one or more positive sizes"),
    "TEST.PRECISE_BN.NUM_ITER": _POSITIVE,
    "LOG_PERIOD": _POSITIVE,
}


def config_value(cfg: CfgNode, key: str) -> Any:
    """The value of the dotted ``key`` in ``cfg``."""
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_values(cfg: CfgNode) -> None:
    """Raise :class:`ConfigValueError` naming the first key of :data:`VALUE_CHECKS` out of its range."""
    for key, (ok, valid) in VALUE_CHECKS.items():
        value = config_value(cfg, key)
        try:
            fits = ok(value)
        except TypeError:  # a string where a number belongs, inside a list the type check passed
            fits = False
        if not fits:
            raise ConfigValueError(f"{key} must be {valid}, got {value!r}")


def check_choice(key: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``, else a :class:`ConfigValueError` naming ``key`` and the choices."""
    if value not in choices:
        raise ConfigValueError(f"{key} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value
