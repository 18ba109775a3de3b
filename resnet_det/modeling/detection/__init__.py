"""Faster and Mask R-CNN in the paper's C4 design: a ResNet trunk to res4, RPN, res5 RoI head."""
