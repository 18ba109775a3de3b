"""SGD as the configs describe it: momentum, weight decay (none on norm layers, as detectron2's
``SOLVER.WEIGHT_DECAY_NORM`` default), a base learning rate optionally scaled with the batch."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from resnet_det.config import CfgNode

_NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm, nn.GroupNorm, nn.LayerNorm)


def parameter_groups(model: nn.Module, weight_decay: float, weight_decay_norm: float) -> list[dict[str, Any]]:
    """The trainable parameters in two SGD groups: those of normalisation layers, decayed by
    ``weight_decay_norm`` (detectron2's ``SOLVER.WEIGHT_DECAY_NORM``), and the rest."""
    norm_ids = {id(p) for m in model.modules() if isinstance(m, _NORM_LAYERS) for p in m.parameters(recurse=False)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in norm_ids], "weight_decay": weight_decay},
              {"params": [p for p in trainable if id(p) in norm_ids], "weight_decay": weight_decay_norm}]
    return [g for g in groups if g["params"]]


def build_optimizer(cfg: CfgNode, model: nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum over the trainable parameters, decayed by ``WEIGHT_DECAY`` (norm layers' by
    ``WEIGHT_DECAY_NORM``); ``BASE_LR`` scaled by ``IMS_PER_BATCH / BASE_LR_REFERENCE_BATCH`` when
    the latter is set."""
    lr = cfg.SOLVER.BASE_LR
    if cfg.SOLVER.BASE_LR_REFERENCE_BATCH:
        lr *= cfg.SOLVER.IMS_PER_BATCH / cfg.SOLVER.BASE_LR_REFERENCE_BATCH
    # The fused kernel reads a tensor learning rate on the device; the foreach one reads it back.
    return torch.optim.SGD(parameter_groups(model, cfg.SOLVER.WEIGHT_DECAY, cfg.SOLVER.WEIGHT_DECAY_NORM), lr=lr,
                           momentum=cfg.SOLVER.MOMENTUM, nesterov=cfg.SOLVER.NESTEROV,
                           fused=True if cfg.SOLVER.CUDA_GRAPH else None)
