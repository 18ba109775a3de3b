"""Default configuration, detectron2-style: every key a user may set, with its default.

Detection defaults are detectron2's C4 ones (Base-RCNN-C4 with the 3x schedule), so results and
weights carry over; the classification configs in ``configs/`` set their own recipe.
"""
from fvcore.common.config import CfgNode as CN

_C = CN()
_C.VERSION = 1

_C.MODEL = CN()
_C.MODEL.DEVICE = "auto"  # "auto": cuda when available, else cpu; torchrun ranks take their LOCAL_RANK GPU
# Initial weights: a file in any format resnet_det.weights reads, an http(s):// URL, detectron2's
# detectron2://<model store path> or torchvision://resnet50[/<weights>] (downloaded once into
# $RESNET_DET_CACHE); empty: random initialisation.
_C.MODEL.WEIGHTS = ""
# A detector checkpoint with another number of classes loads all but its class predictors (each
# skipped key logged), as detectron2 fine-tunes; True refuses it instead.
_C.MODEL.WEIGHTS_STRICT = False
# "caffe" (BGR, mean subtraction, stride in the 1x1: MSRA/detectron2 weights) or "torchvision"
# (RGB, mean/std, stride in the 3x3). Must match the weights: mixing them silently costs accuracy.
_C.MODEL.WEIGHT_STYLE = "caffe"
_C.MODEL.MASK_ON = False

# Classification: a registered name from resnet_det.list_models() and its number of classes.
_C.MODEL.ARCH = "cifar_resnet20"
_C.MODEL.NUM_CLASSES = 10

_C.MODEL.BACKBONE = CN()
_C.MODEL.BACKBONE.FREEZE_AT = 2  # detection: stem and res2 frozen, as the paper and detectron2

_C.MODEL.RESNETS = CN()
_C.MODEL.RESNETS.DEPTH = 50  # detection trunk depth: 18, 34, 50, 101 or 152
_C.MODEL.RESNETS.NORM = "FrozenBN"  # "BN", "FrozenBN", "SyncBN" or "GN"
_C.MODEL.RESNETS.SHORTCUT = ""  # "A", "B" or "C"; empty keeps the model's own default
_C.MODEL.RESNETS.ZERO_INIT_LAST = False
_C.MODEL.RESNETS.RES5_DILATION = 1

# torch.compile in the trainers: the whole classifier, or the detector's res5 head (the part with
# fixed-size inputs: 14x14 RoI crops). Parameter names and checkpoints do not change.
_C.MODEL.COMPILE = CN()
_C.MODEL.COMPILE.ENABLED = False
_C.MODEL.COMPILE.MODE = "default"  # or "reduce-overhead" (CUDA graphs), "max-autotune"
_C.MODEL.COMPILE.BACKEND = "inductor"  # any torch.compile backend; "eager" only traces (for tests)

_C.MODEL.ANCHOR_GENERATOR = CN()
_C.MODEL.ANCHOR_GENERATOR.SIZES = [[32, 64, 128, 256, 512]]  # one list per feature map (C4: one)
_C.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[0.5, 1.0, 2.0]]

_C.MODEL.PROPOSAL_GENERATOR = CN()
_C.MODEL.PROPOSAL_GENERATOR.MIN_SIZE = 0

_C.MODEL.RPN = CN()
# detectron2's Matcher: a best IoU in [IOU_THRESHOLDS[i-1], IOU_THRESHOLDS[i]) gets IOU_LABELS[i]
# (-1 ignored, 0 background, 1 foreground), so labels number one more than thresholds.
_C.MODEL.RPN.IOU_THRESHOLDS = [0.3, 0.7]
_C.MODEL.RPN.IOU_LABELS = [0, -1, 1]
_C.MODEL.RPN.BATCH_SIZE_PER_IMAGE = 256
_C.MODEL.RPN.POSITIVE_FRACTION = 0.5
_C.MODEL.RPN.BBOX_REG_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
_C.MODEL.RPN.PRE_NMS_TOPK_TRAIN = 12000
_C.MODEL.RPN.POST_NMS_TOPK_TRAIN = 2000
_C.MODEL.RPN.PRE_NMS_TOPK_TEST = 6000
_C.MODEL.RPN.POST_NMS_TOPK_TEST = 1000
_C.MODEL.RPN.NMS_THRESH = 0.7
_C.MODEL.RPN.LOSS_WEIGHT = 1.0

_C.MODEL.ROI_HEADS = CN()
_C.MODEL.ROI_HEADS.NUM_CLASSES = 80
_C.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 512
_C.MODEL.ROI_HEADS.POSITIVE_FRACTION = 0.25
_C.MODEL.ROI_HEADS.IOU_THRESHOLDS = [0.5]
_C.MODEL.ROI_HEADS.IOU_LABELS = [0, 1]
# The paper's box refinement (Appendix B, at test time): pool again from each proposal's regressed
# box, take the union of both passes' detections, NMS at NMS_THRESH, then box voting at VOTING_IOU.
_C.MODEL.ROI_HEADS.BOX_REFINEMENT = CN()
_C.MODEL.ROI_HEADS.BOX_REFINEMENT.ENABLED = False
_C.MODEL.ROI_HEADS.BOX_REFINEMENT.NMS_THRESH = 0.3
_C.MODEL.ROI_HEADS.BOX_REFINEMENT.VOTING_IOU = 0.5
_C.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.05
_C.MODEL.ROI_HEADS.NMS_THRESH_TEST = 0.5
_C.MODEL.ROI_HEADS.PROPOSAL_APPEND_GT = True

_C.MODEL.ROI_BOX_HEAD = CN()
_C.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
_C.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 14
# "ROIAlignV2" (aligned: detectron2's default), "ROIAlign" (Mask R-CNN's original, unaligned) or
# "ROIPool" (Fast R-CNN's max pooling, which the paper used); sampling ratio 0: adaptive.
_C.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignV2"
_C.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 0
# The paper's global context (Appendix B): the whole image pooled as one RoI through res5, its
# feature concatenated to every RoI's before the box predictor (whose input doubles). Trained with it.
_C.MODEL.ROI_BOX_HEAD.GLOBAL_CONTEXT = False

_C.MODEL.ROI_MASK_HEAD = CN()
_C.MODEL.ROI_MASK_HEAD.CONV_DIM = 256

_C.DATASETS = CN()
_C.DATASETS.ROOT = ""  # empty: $RESNET_DET_DATASETS, else $DETECTRON2_DATASETS, else ./datasets
_C.DATASETS.TRAIN = ()
_C.DATASETS.TEST = ()
# Extra COCO-format detection datasets, each [name, annotations json, image folder].
_C.DATASETS.REGISTER = []

_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 4  # decoding processes for image-file datasets
# Decode JPEG training images (classification) on the training device, nvJPEG on a GPU, for
# hosts whose cores cannot keep up; the workers then only read files.
_C.DATALOADER.DECODE_ON_DEVICE = False
# Detection: each batch holds only landscape or only portrait images, so padding wastes little.
_C.DATALOADER.ASPECT_RATIO_GROUPING = True
# An image file that cannot be used (corrupt, truncated, missing, not matching its annotations):
# "skip" logs it and trains on a deterministic substitute (evaluation scores it as an image where
# nothing was found); "fail" stops with an error naming the file.
_C.DATALOADER.ON_BAD_IMAGE = "skip"
# Images whose header claims more pixels are refused before decoding (decompression bombs).
_C.DATALOADER.MAX_IMAGE_PIXELS = 100_000_000
# Classification: each global batch holds IMS_PER_BATCH / R samples R times, each copy augmented
# apart (repeated augmentation; torchvision's V2 ImageNet recipe uses 4). 1: every sample once.
_C.DATALOADER.REPEATED_AUGMENTATIONS = 1

_C.INPUT = CN()
# Shorter side at training: one of MIN_SIZE_TRAIN ("choice") or uniform in its [min, max] ("range").
_C.INPUT.MIN_SIZE_TRAIN = (640, 672, 704, 736, 768, 800)
_C.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
_C.INPUT.MAX_SIZE_TRAIN = 1333
_C.INPUT.MIN_SIZE_TEST = 800  # 0: do not resize
_C.INPUT.MAX_SIZE_TEST = 1333
# How detectors resize: "torch", antialiased bilinear on floats on the model's device; or "pil",
# detectron2's ResizeShortestEdge exactly (PIL bilinear on the uint8 image, on the CPU), for the
# same detections as detectron2 from the same weights.
_C.INPUT.RESIZE = "torch"
_C.INPUT.RANDOM_FLIP = True
# How Mask R-CNN's training masks travel: "polygon" (detectron2's default) keeps COCO's polygons and
# rasterises each one in its RoI's 28 x 28 frame, as detectron2 does; RLE instances (and every
# instance with "bitmask") are decoded to full-resolution masks and cropped with RoIAlign.
_C.INPUT.MASK_FORMAT = "polygon"
# Classification only: "style" subtracts MODEL.WEIGHT_STYLE's mean and divides by its std;
# "per_pixel_mean" subtracts the training set's mean image (CIFAR nets, Sec. 4.2), on the 0-255 scale.
_C.INPUT.NORMALIZE = "style"
# Classification only: training crop; in-memory datasets (CIFAR) pad by PAD and crop back.
_C.INPUT.CROP_SIZE = 224
# Image-file datasets: "scale" (the paper's: shorter side drawn from MIN_SIZE_TRAIN, then a random
# CROP_SIZE window) or "random_resized" (torchvision's RandomResizedCrop: 8-100% of the area, aspect
# 3/4-4/3, resized to CROP_SIZE; its V2 recipe trains at 176).
_C.INPUT.CROP_MODE = "scale"
# Classification: progressive resizing (FFCV's): the training crop is MIN_SIZE up to START_EPOCH,
# INPUT.CROP_SIZE from END_EPOCH on, and in between grows linearly with the epoch, rounded to a
# multiple of MULTIPLE. An epoch: the training set's size // SOLVER.IMS_PER_BATCH iterations.
_C.INPUT.PROGRESSIVE_RESIZE = CN()
_C.INPUT.PROGRESSIVE_RESIZE.ENABLED = False
_C.INPUT.PROGRESSIVE_RESIZE.MIN_SIZE = 160
_C.INPUT.PROGRESSIVE_RESIZE.START_EPOCH = 0
_C.INPUT.PROGRESSIVE_RESIZE.END_EPOCH = 0
_C.INPUT.PROGRESSIVE_RESIZE.MULTIPLE = 32
_C.INPUT.PAD = 0
_C.INPUT.COLOR_AUG = 0.0  # std of AlexNet's PCA lighting noise (the paper's ImageNet recipe: 0.1)
# Classification: MixUp's and CutMix's Beta(alpha, alpha) (0: off; torchvision's V2 recipe: 0.2 and
# 1.0, one of the two per batch). Mixed batches train on soft targets.
_C.INPUT.MIXUP_ALPHA = 0.0
_C.INPUT.CUTMIX_ALPHA = 0.0
# Classification, per sample: "trivial_wide" (TrivialAugmentWide) or "" (none); random erasing with
# this probability, to the weight style's mean colour (torchvision's V2 recipe: trivial_wide, 0.1).
_C.INPUT.AUTO_AUGMENT = ""
_C.INPUT.RANDOM_ERASING = 0.0

_C.SOLVER = CN()
_C.SOLVER.IMS_PER_BATCH = 16  # global batch, split across processes
_C.SOLVER.BASE_LR = 0.02
_C.SOLVER.BASE_LR_REFERENCE_BATCH = 0  # >0: scale BASE_LR linearly by IMS_PER_BATCH / this
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.NESTEROV = False
_C.SOLVER.WEIGHT_DECAY = 1e-4
# Weight decay of normalisation layers' scales and shifts (BN, SyncBN, GN): none, as detectron2.
# The classification configs decay them like the rest, as the paper's training did.
_C.SOLVER.WEIGHT_DECAY_NORM = 0.0
_C.SOLVER.MAX_ITER = 270000
_C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"  # or "WarmupCosineLR", "WarmupLinearLR"
_C.SOLVER.STEPS = (210000, 250000)
_C.SOLVER.GAMMA = 0.1
_C.SOLVER.WARMUP_ITERS = 1000
_C.SOLVER.WARMUP_FACTOR = 0.001
_C.SOLVER.WARMUP_METHOD = "linear"  # or "constant" (the paper's ResNet-110: lr 0.01 for 400 iterations)
_C.SOLVER.LABEL_SMOOTHING = 0.0
_C.SOLVER.CHECKPOINT_PERIOD = 5000
# Periodic checkpoints kept (the newest ones), besides model_final.pth; 0 keeps all. A 3x R101-C4
# schedule (270k iterations) then holds 6 files of about 0.4 GB, not 54.
_C.SOLVER.CHECKPOINT_KEEP = 5
# An exponential moving average of the weights, checkpointed with the run and evaluated beside them
# (test sets' results under "<name>/ema"): average <- DECAY * average + (1 - DECAY) * weights every
# PERIOD iterations, copying the weights until WARMUP_ITERS (torchvision's V2 recipe: every 32
# iterations; its per-update decay is derived from batch, period and epochs, see its config).
_C.SOLVER.EMA = CN()
_C.SOLVER.EMA.ENABLED = False
_C.SOLVER.EMA.DECAY = 0.9998
_C.SOLVER.EMA.PERIOD = 1
_C.SOLVER.CLIP_GRADIENTS = CN()
_C.SOLVER.CLIP_GRADIENTS.ENABLED = False
_C.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "norm"  # "norm": the global L2 norm; "value": each element
_C.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1.0
_C.SOLVER.AMP = CN()
_C.SOLVER.AMP.ENABLED = False  # bf16 autocast, in training and inference
# Replay each training step (forward, backward, SGD) as one captured CUDA graph: classification
# on one GPU, where launching kernels one by one bounds small models (CIFAR).
_C.SOLVER.CUDA_GRAPH = False

_C.TEST = CN()
_C.TEST.EVAL_PERIOD = 0  # 0: evaluate at the end only
# Test-time augmentation of the detector (detectron2's TEST.AUG): every shorter side, each also
# flipped, merged by NMS within classes. Boxes only.
_C.TEST.AUG = CN()
_C.TEST.AUG.ENABLED = False
_C.TEST.AUG.MIN_SIZES = (400, 500, 600, 700, 800, 900, 1000, 1100, 1200)
_C.TEST.AUG.MAX_SIZE = 4000
_C.TEST.AUG.FLIP = True
# The paper's multi-scale testing (Appendix B): proposals at INPUT.MIN_SIZE_TEST, RoI features from
# a pyramid of these shorter sides (longest side MAX_SIZE), each RoI pooled at the two adjacent
# scales between which its size crosses TARGET_SIZE pixels, merged by maxout.
_C.TEST.MULTI_SCALE = CN()
_C.TEST.MULTI_SCALE.ENABLED = False
_C.TEST.MULTI_SCALE.MIN_SIZES = (200, 400, 600, 800, 1000)
_C.TEST.MULTI_SCALE.MAX_SIZE = 2000
_C.TEST.MULTI_SCALE.TARGET_SIZE = 224
# The paper's ensemble (Appendix B): MODEL.WEIGHTS and these detectors (same config) propose
# together, and each classifies and regresses the union of their proposals; scores, boxes and
# masks are averaged.
_C.TEST.ENSEMBLE = CN()
_C.TEST.ENSEMBLE.WEIGHTS = []
# Batch-norm statistics recomputed over NUM_ITER training batches, weights fixed, before each
# evaluation and the final checkpoint (detectron2's PreciseBN; the paper's Appendix A computes
# them on the training set before fine-tuning a detector). Classification only: detectors freeze BN.
_C.TEST.PRECISE_BN = CN()
_C.TEST.PRECISE_BN.ENABLED = False
_C.TEST.PRECISE_BN.NUM_ITER = 200
_C.TEST.IMS_PER_BATCH = 64
_C.TEST.DETECTIONS_PER_IMAGE = 100
# Classification test views: "center", "10crop" or "multiscale" (image-file datasets).
_C.TEST.MODE = "center"
_C.TEST.RESIZE = 256  # shorter side before centre and 10-crop
_C.TEST.CROP_SIZE = 224
_C.TEST.SCALES = (224, 256, 384, 480, 640)  # shorter sides of the fully-convolutional multi-scale test
# Classification, TEST.MODE center: also score the mirror image of each view (FFCV's test-time
# flip); 10crop and multiscale hold mirror images already.
_C.TEST.FLIP = False

_C.OUTPUT_DIR = "./output"
_C.SEED = 0
_C.DETERMINISTIC = False  # deterministic algorithms (CPU runs reproduce bit for bit)
_C.LOG_PERIOD = 20
