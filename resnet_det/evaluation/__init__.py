"""The evaluator protocol and its evaluators: top-k classification error, COCO AP (pycocotools), PASCAL VOC AP."""
