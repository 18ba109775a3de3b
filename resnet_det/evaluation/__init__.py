"""Evaluators: classification top-k error (COCO and VOC detection metrics come with the detectors)."""
