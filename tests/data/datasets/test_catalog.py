import torch

from resnet_det.data.datasets.catalog import ConcatDetection
from resnet_det.data.datasets.voc import VOCDetection


def test_concatenation_reads_each_part_in_order(shared_data):
    parts = [VOCDetection(shared_data / "VOCdevkit", "2007", "test"),
             VOCDetection(shared_data / "VOCdevkit", "2012", "trainval")]
    joint = ConcatDetection(parts)
    assert len(joint) == sum(len(p) for p in parts)
    flat = [(p, i) for p in parts for i in range(len(p))]
    for index, (part, local) in enumerate(flat):
        image, target = joint[index]
        assert target["image_id"] == part.ids[local]
        assert joint.has_usable_boxes(index) == part.has_usable_boxes(local)
        assert joint.is_landscape(index) == (image.shape[-1] > image.shape[-2])
    assert torch.equal(joint[len(joint) - 1][0], parts[-1][len(parts[-1]) - 1][0])
