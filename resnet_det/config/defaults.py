"""Default configuration, detectron2-style: every key a user may set, with its default."""
from fvcore.common.config import CfgNode as CN

_C = CN()
_C.VERSION = 1

_C.MODEL = CN()
_C.MODEL.DEVICE = "cpu"  # "cuda" for GPUs; torchrun runs give each rank its own device
_C.MODEL.WEIGHTS = ""  # initial weights (any format resnet_det.weights reads); empty: random init
# Classification: a registered name from resnet_det.list_models().
_C.MODEL.ARCH = "cifar_resnet20"
_C.MODEL.NUM_CLASSES = 10
# "caffe" (BGR, mean subtraction only) or "torchvision" (RGB, mean/std): how inputs are normalised.
_C.MODEL.WEIGHT_STYLE = "torchvision"

_C.MODEL.RESNETS = CN()
_C.MODEL.RESNETS.NORM = "BN"
_C.MODEL.RESNETS.SHORTCUT = ""  # "A", "B" or "C"; empty keeps the model's own default
_C.MODEL.RESNETS.ZERO_INIT_LAST = False

_C.DATASETS = CN()
_C.DATASETS.ROOT = ""  # empty: $RESNET_DET_DATASETS, else ./datasets
_C.DATASETS.TRAIN = ("cifar10_train",)
_C.DATASETS.TEST = ("cifar10_test",)

_C.INPUT = CN()
_C.INPUT.CROP_SIZE = 32  # training crop; CIFAR pads by INPUT.PAD and crops back to 32
_C.INPUT.PAD = 4
_C.INPUT.RANDOM_FLIP = True

_C.SOLVER = CN()
_C.SOLVER.IMS_PER_BATCH = 128  # global batch, split across processes
_C.SOLVER.BASE_LR = 0.1
_C.SOLVER.BASE_LR_REFERENCE_BATCH = 0  # >0: scale BASE_LR linearly by IMS_PER_BATCH / this
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.NESTEROV = False
_C.SOLVER.WEIGHT_DECAY = 1e-4
_C.SOLVER.MAX_ITER = 64000
_C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"  # or "WarmupCosineLR"
_C.SOLVER.STEPS = (32000, 48000)
_C.SOLVER.GAMMA = 0.1
_C.SOLVER.WARMUP_ITERS = 0
_C.SOLVER.WARMUP_FACTOR = 0.1
_C.SOLVER.LABEL_SMOOTHING = 0.0
_C.SOLVER.CHECKPOINT_PERIOD = 2000
_C.SOLVER.AMP = CN()
_C.SOLVER.AMP.ENABLED = False  # bf16 autocast

_C.TEST = CN()
_C.TEST.EVAL_PERIOD = 0  # 0: evaluate at the end only
_C.TEST.IMS_PER_BATCH = 500

_C.OUTPUT_DIR = "./output"
_C.SEED = 0
_C.DETERMINISTIC = False  # deterministic algorithms (CPU runs reproduce bit for bit)
_C.LOG_PERIOD = 20
