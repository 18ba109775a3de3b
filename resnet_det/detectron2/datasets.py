"""Our detection datasets (e.g. the built-in shapes) registered in detectron2's catalogs."""
from __future__ import annotations

from detectron2.data import DatasetCatalog
from detectron2.data.datasets import register_coco_instances

from resnet_det.data.datasets.catalog import coco_dataset_paths


def register_in_detectron2(*names: str, root: str = "") -> None:
    """Register COCO-format datasets known to resnet_det (``shapes_det_train``, ones added with
    ``register_coco_instances``...) in ``DatasetCatalog``/``MetadataCatalog`` under the same names,
    so ``DATASETS.TRAIN`` and ``COCOEvaluator`` find them. Names detectron2 already has are kept.

    The built-in shapes store exact masks as RLE: train them with ``INPUT.MASK_FORMAT bitmask``."""
    for name in names:
        if name in DatasetCatalog.list():
            continue
        json_file, image_root = coco_dataset_paths(name, root)
        register_coco_instances(name, {}, str(json_file), str(image_root))
