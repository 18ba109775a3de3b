import numpy as np
import pytest

from resnet_det.data.loaders.sampling import EpochStream


@pytest.mark.parametrize("num_samples,batch_size,world_size", [(50, 4, 1), (37, 6, 2), (9, 3, 3)])
def test_grouped_epochs_keep_batches_within_a_group(num_samples, batch_size, world_size):
    groups = np.random.default_rng(0).integers(0, 2, num_samples)
    streams = [EpochStream(num_samples, batch_size, seed=5, rank=r, world_size=world_size, groups=groups)
               for r in range(world_size)]
    steps = num_samples // batch_size
    for epoch in range(3):
        batches = [np.concatenate([s.indices(epoch * steps + k) for s in streams]) for k in range(steps)]
        mixed = [k for k, b in enumerate(batches) if len(set(groups[b])) > 1]
        # Only the leftovers of the two groups, at the end of the epoch, may share a batch.
        assert mixed == [] or mixed == [steps - 1]
        visited = np.concatenate(batches)
        assert len(set(visited.tolist())) == len(visited) == steps * batch_size


def test_grouped_order_is_seeded_and_reshuffled_each_epoch():
    groups = np.arange(40) % 2
    a = EpochStream(40, 4, seed=1, groups=groups)
    b = EpochStream(40, 4, seed=1, groups=groups)
    assert all(np.array_equal(a.indices(it), b.indices(it)) for it in (3, 0, 11, 25))
    assert not np.array_equal(a.indices(0), a.indices(10))
    # Both groups appear in an epoch's batch order, not all of one then all of the other.
    firsts = [groups[a.indices(k)[0]] for k in range(10)]
    assert firsts != sorted(firsts) and firsts != sorted(firsts, reverse=True)


def test_group_ids_must_match_the_samples():
    with pytest.raises(ValueError, match="3 group ids for 4 samples"):
        EpochStream(4, 2, seed=0, groups=np.zeros(3))


def test_epoch_permutation_is_drawn_once_per_epoch(monkeypatch):
    from resnet_det.data.loaders import sampling

    stream = EpochStream(40, 8, seed=0)
    expected = [stream.indices(it).copy() for it in range(10)]
    fresh = EpochStream(40, 8, seed=0)
    calls = []
    real = np.random.default_rng
    monkeypatch.setattr(sampling.np.random, "default_rng", lambda *a: calls.append(a) or real(*a))
    got = [fresh.indices(it) for it in range(10)]  # iterations 0-4 are epoch 0, 5-9 epoch 1
    assert all(np.array_equal(a, b) for a, b in zip(expected, got))
    assert len(calls) == 2


@pytest.mark.parametrize("num_samples,batch_size,world_size,repeats", [(64, 8, 4, 4), (60, 12, 2, 3), (30, 6, 1, 2)])
def test_repeated_augmentation_batches(num_samples, batch_size, world_size, repeats):
    """Each global batch holds batch_size / R samples R times, the ranks' shares tile it, each copy
    has its own slot (so its own augmentation draw), copies land on distinct ranks when R <= world
    size, and an epoch draws each sample at most once."""
    streams = [EpochStream(num_samples, batch_size, seed=3, rank=r, world_size=world_size, repeats=repeats)
               for r in range(world_size)]
    single = EpochStream(num_samples, batch_size, seed=3, repeats=repeats)
    steps = num_samples // batch_size
    seen = []
    for it in range(steps):
        shares = [s.indices(it) for s in streams]
        batch = np.concatenate(shares)
        assert np.array_equal(batch, single.indices(it))  # N processes see what one process would
        values, counts = np.unique(batch, return_counts=True)
        assert len(values) == batch_size // repeats and (counts == repeats).all()
        if repeats <= world_size:
            assert all(len(set(share.tolist())) == len(share) for share in shares)
        seen += values.tolist()
    assert len(seen) == len(set(seen)) == steps * batch_size // repeats


def test_one_repeat_is_the_plain_stream():
    plain, once = EpochStream(40, 8, seed=2, rank=1, world_size=2), EpochStream(40, 8, seed=2, rank=1, world_size=2,
                                                                                repeats=1)
    assert all(np.array_equal(plain.indices(it), once.indices(it)) for it in range(12))


def test_repeats_must_divide_the_batch_and_not_meet_groups():
    from resnet_det.config import ConfigValueError
    with pytest.raises(ConfigValueError, match="DATALOADER.REPEATED_AUGMENTATIONS 3 .* SOLVER.IMS_PER_BATCH 8"):
        EpochStream(40, 8, seed=0, repeats=3)
    with pytest.raises(ValueError, match="aspect-ratio groups"):
        EpochStream(40, 8, seed=0, repeats=2, groups=np.zeros(40))
