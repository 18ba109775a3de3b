"""Data, by concern: ``datasets`` (what a dataset is: records of COCO, VOC, ImageNet, CIFAR-10 and the
built-in shapes, and the catalog of names), ``decode`` (reading image files defensively, and the
bad-image policy) and ``loaders`` (making batches: sampling, augmentation, device decoding)."""
