"""One rank of a COCO box and mask evaluation of coco_mini val under torchrun, for
test_distributed_eval.py: detections near the ground truth (seeded by image id) of this rank's
share of the images, then ``COCOEvaluator.evaluate``. Rank 0 writes the metrics; every rank writes
the image ids it processed and those of every ``ImageDetections`` it received from another rank."""
import json
import sys
from pathlib import Path

import torch

from resnet_det.data.datasets.coco import CocoDetection
from resnet_det.data.loaders.batches import DetectionBatch
from resnet_det.evaluation.coco_evaluator import COCOEvaluator, ImageDetections
from resnet_det.modeling.detection.structures import Instances
from resnet_det.utils.distributed import get_rank, get_world_size, init_distributed

out, data = Path(sys.argv[1]), Path(sys.argv[2])
init_distributed("cpu")
rank, world = get_rank(), get_world_size()
received: list[int] = []


def _record_unpickled(self, state):  # unpickling calls this for every ImageDetections that arrives
    received.append(state["image_id"])
    self.__dict__.update(state)


ImageDetections.__setstate__ = _record_unpickled
dataset = CocoDetection(data / "annotations/instances_val2017.json", data / "val2017", mask_format="bitmask")
evaluator = COCOEvaluator(dataset.coco, dataset.category_ids, ("bbox", "segm"))
processed = []
for i in range(rank, len(dataset), world):
    target = dataset.target(i)
    g = torch.Generator().manual_seed(target["image_id"])
    boxes = target["boxes"] + torch.randn(target["boxes"].shape, generator=g) * 4
    output = Instances(boxes, torch.rand(len(boxes), generator=g), target["labels"], target["masks"].roll(3, -1).bool())
    evaluator.process(DetectionBatch([None], [target]), [output])
    processed.append(target["image_id"])
metrics = evaluator.evaluate()
if rank == 0:
    (out / "metrics.json").write_text(json.dumps(metrics, sort_keys=True))
(out / f"rank{rank}.json").write_text(json.dumps({"processed": processed, "received": received}))
