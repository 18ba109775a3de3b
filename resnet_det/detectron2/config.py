"""The ``MODEL.RESNET_DET`` config node read by the plugin's backbone and res5 head."""
from __future__ import annotations

from detectron2.config import CfgNode

from resnet_det.weights.styles import get_weight_style


def add_resnet_det_config(cfg: CfgNode) -> CfgNode:
    """Add ``MODEL.RESNET_DET`` to a detectron2 config; its defaults build detectron2's own R50-C4.

    The trunk freezes per detectron2's ``MODEL.BACKBONE.FREEZE_AT``.
    """
    node = cfg.MODEL.RESNET_DET = CfgNode()
    node.DEPTH = 50  # 18, 34, 50, 101 or 152; 18/34 use basic blocks, in res5 too
    # "caffe": MSRA/detectron2 weights (stride in the bottleneck's 1x1, BGR input);
    # "torchvision": stride in the 3x3 and RGB input normalised by the ImageNet std.
    node.WEIGHT_STYLE = "caffe"
    node.SHORTCUT = "B"  # the paper's option A, B or C
    node.NORM = "FrozenBN"  # "FrozenBN", "BN", "SyncBN" or "GN", for the trunk and the res5 head
    node.ZERO_INIT_LAST = False  # zero each block's last norm scale (training from scratch)
    node.RES5_DILATION = 1
    node.OUT_FEATURES = ["res4"]  # C4; any of stem, res2..res5
    return cfg


def check_input_matches_style(cfg: CfgNode) -> None:
    """Refuse a config whose input format or pixel statistics differ from the weight style's."""
    style = get_weight_style(cfg.MODEL.RESNET_DET.WEIGHT_STYLE)
    expected = {"INPUT.FORMAT": style.channel_order, "MODEL.PIXEL_MEAN": list(style.pixel_mean),
                "MODEL.PIXEL_STD": list(style.pixel_std)}
    got = {"INPUT.FORMAT": cfg.INPUT.FORMAT, "MODEL.PIXEL_MEAN": [float(v) for v in cfg.MODEL.PIXEL_MEAN],
           "MODEL.PIXEL_STD": [float(v) for v in cfg.MODEL.PIXEL_STD]}
    wrong = [f"{k} is {got[k]}, expected {v}" for k, v in expected.items() if got[k] != v]
    if wrong:
        raise ValueError(f"MODEL.RESNET_DET.WEIGHT_STYLE {style.name!r} does not match the input: "
                         + "; ".join(wrong))
