"""The figures of He et al., "Deep Residual Learning for Image Recognition" (arXiv 1512.03385) that the
networks are built from and checked against: one home for each table the code, tools and tests use."""
from __future__ import annotations

# Table 1: blocks per stage (res2..res5) and whether they are bottlenecks, by depth.
IMAGENET_LAYOUTS: dict[int, tuple[tuple[int, int, int, int], bool]] = {
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
    101: ((3, 4, 23, 3), True),
    152: ((3, 8, 36, 3), True),
}
# Table 1: multiply-adds (the paper's "FLOPs"), in billions, of one 224 x 224 image.
IMAGENET_GMACS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
# Table 2 and Fig. 4: the plain (shortcut-free) ImageNet nets compared with ResNet-18/34.
IMAGENET_PLAIN_DEPTHS = (18, 34)

# Table 6: CIFAR-10 networks of 6n + 2 layers, their parameters (millions) and test error (%, best of
# 5 runs; ResNet-110's mean is 6.61 +- 0.16). Plain nets were trained up to 110 layers (Fig. 6).
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
CIFAR_PLAIN_DEPTHS = (20, 32, 44, 56, 110)
CIFAR_MPARAMS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7, 1202: 19.4}
CIFAR_TEST_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}
