import pytest

from resnet_det.config import ConfigValueError, get_cfg
from resnet_det.data.loaders.crop_schedule import CropSchedule


@pytest.mark.parametrize("schedule, sizes", [
    # FFCV's ResNet-50 24-epoch row: 160 through epoch 18 (the ramp's 170.7 rounds down), 192 from 19.
    (CropSchedule(192, 160, 17, 20), {0: 160, 17: 160, 18: 160, 19: 192, 20: 192, 23: 192}),
    # Its 88-epoch row: 174.5 (epoch 70) still rounds to 160, 177.5 (epoch 71) to 192.
    (CropSchedule(192, 160, 65, 76), {64: 160, 70: 160, 71: 192, 87: 192}),
    # A ramp of whole steps: each epoch one multiple up.
    (CropSchedule(256, 128, 0, 4), {0: 128, 1: 160, 2: 192, 3: 224, 4: 256, 9: 256}),
    # Rounding never leaves the two sizes (170 is no multiple of 32: epoch 1's 172.75 rounds to 160).
    (CropSchedule(192, 170, 0, 8), {1: 170, 4: 192, 7: 192}),
    # A step where the ramp has no length; no progression at all without a start size.
    (CropSchedule(224, 128, 3, 3), {3: 128, 4: 224}),
    (CropSchedule(224), {0: 224, 100: 224}),
])
def test_sizes_per_epoch(schedule, sizes):
    assert {epoch: schedule.at(epoch) for epoch in sizes} == sizes


def test_sizes_grow_and_stay_multiples_between_the_ends():
    schedule = CropSchedule(320, 96, 10, 40)
    sizes = [schedule.at(e) for e in range(50)]
    assert sizes == sorted(sizes) and sizes[0] == 96 and sizes[-1] == 320
    assert all(s % 32 == 0 for s in sizes) and len(set(sizes)) == 8


def test_from_config_is_the_crop_size_unless_enabled():
    cfg = get_cfg()
    assert CropSchedule.from_config(cfg) == CropSchedule(cfg.INPUT.CROP_SIZE)
    cfg.merge_from_list(["INPUT.PROGRESSIVE_RESIZE.ENABLED", True, "INPUT.PROGRESSIVE_RESIZE.END_EPOCH", 5])
    assert CropSchedule.from_config(cfg) == CropSchedule(224, 160, 0, 5, 32)


@pytest.mark.parametrize("args, message", [
    ((160, 192, 0, 4), "MIN_SIZE 192 must be positive and at most INPUT.CROP_SIZE 160"),
    ((192, 160, 5, 4), "END_EPOCH 4 is before START_EPOCH 5"),
])
def test_a_ramp_that_cannot_be_is_refused(args, message):
    with pytest.raises(ConfigValueError, match=message):
        CropSchedule(*args)
