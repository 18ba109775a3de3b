import pytest
import torch

from resnet_det.data.loaders.batches import ImageBatch
from resnet_det.data.loaders.mixing import BatchMixing, mixing_seed


def _batch() -> ImageBatch:
    images = torch.stack([torch.full((3, 8, 8), 10 * i, dtype=torch.uint8) for i in range(6)])
    return ImageBatch(images, torch.tensor([0, 1, 2, 3, 4, 0]))


@pytest.mark.parametrize("mixup,cutmix", [(0.2, 0.0), (0.0, 1.0), (0.2, 1.0)])
def test_mixed_labels_are_distributions_whose_mass_matches_the_pixels(mixup, cutmix):
    """Each soft target sums to 1 and gives its own class the share of the image it kept: MixUp's
    lambda, or CutMix's area outside the pasted box (the neighbour, the batch rolled by one, gets
    the rest)."""
    batch = _batch()
    mixing = BatchMixing(5, mixup, cutmix)
    least_kept = 1.0
    for seed in range(8):
        out = mixing(batch, seed)
        assert out.labels.shape == (6, 5) and torch.allclose(out.labels.sum(1), torch.ones(6))
        own = out.labels[torch.arange(6), batch.labels]
        neighbour = batch.images.float().roll(1, 0)
        # Pixels are constant per image, so the kept share is readable from any mixed image's mean.
        kept = (out.images.float().mean((1, 2, 3)) - neighbour.mean((1, 2, 3))) / (
            batch.images.float().mean((1, 2, 3)) - neighbour.mean((1, 2, 3)))
        different = batch.labels != batch.labels.roll(1, 0)
        assert torch.allclose(kept[different], own[different], atol=1e-5)
        least_kept = min(least_kept, own[different].min().item())
    assert least_kept < 0.9  # the draws mixed something in


def test_a_seed_gives_one_draw_and_leaves_the_global_generator_alone():
    mixing = BatchMixing(5, 0.2, 1.0)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, b = mixing(_batch(), 7), mixing(_batch(), 7)
    assert torch.rand(3).equal(before)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    other = mixing(_batch(), 8)
    assert not (torch.equal(other.labels, a.labels) and torch.equal(other.images, a.images))
    assert len({mixing_seed(0, 5, 0), mixing_seed(0, 5, 1), mixing_seed(0, 6, 1)}) == 3


def test_off_unless_an_alpha_is_positive():
    with pytest.raises(ValueError, match="mixup_alpha or cutmix_alpha"):
        BatchMixing(5, 0.0, 0.0)
