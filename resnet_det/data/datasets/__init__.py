"""What a dataset is: the records of COCO, PASCAL VOC, ImageNet, CIFAR-10 and the built-in shapes,
checked on load, and the catalog that names them."""
