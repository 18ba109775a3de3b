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
_C.INPUT.PAD = 4  # in-memory datasets only
_C.INPUT.MIN_SIZE_TRAIN = (256, 480)  # image-file datasets: shorter side drawn uniformly from this range
_C.INPUT.RANDOM_FLIP = True
_C.INPUT.COLOR_AUG = 0.0  # std of AlexNet's PCA lighting noise (the paper's ImageNet recipe: 0.1)

_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 4  # decoding processes for image-file datasets

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
_C.SOLVER.WARMUP_METHOD = "linear"  # or "constant" (the paper's ResNet-110: lr 0.01 for 400 iterations)
_C.SOLVER.LABEL_SMOOTHING = 0.0
_C.SOLVER.CHECKPOINT_PERIOD = 2000
_C.SOLVER.AMP = CN()
_C.SOLVER.AMP.ENABLED = False  # bf16 autocast

_C.TEST = CN()
_C.TEST.EVAL_PERIOD = 0  # 0: evaluate at the end only
_C.TEST.IMS_PER_BATCH = 500
_C.TEST.MODE = "center"  # "center", "10crop" or "multiscale" (image-file datasets)
_C.TEST.RESIZE = 256  # shorter side before centre and 10-crop
_C.TEST.CROP_SIZE = 224
_C.TEST.SCALES = (224, 256, 384, 480, 640)  # shorter sides of the fully-convolutional multi-scale test

_C.OUTPUT_DIR = "./output"
_C.SEED = 0
_C.DETERMINISTIC = False  # deterministic algorithms (CPU runs reproduce bit for bit)
_C.LOG_PERIOD = 20
