"""Datasets (CIFAR-10, ImageNet, COCO, PASCAL VOC, the built-in shapes), their catalog and metadata, and the
batch sources that feed the trainers and evaluators."""
