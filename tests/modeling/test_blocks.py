import pytest
import torch
import torch.nn.functional as F

from resnet_det.modeling.blocks import ConvNorm


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
def test_frozen_norm_folded_into_the_conv_keeps_outputs_and_gradients(memory_format, randomise_norms):
    torch.manual_seed(0)
    conv = randomise_norms(ConvNorm(8, 16, 3, stride=2, norm="FrozenBN").to(memory_format=memory_format))
    norm = conv.norm
    x = torch.randn(2, 8, 12, 12).contiguous(memory_format=memory_format).requires_grad_()
    folded = conv(x)
    unfolded = norm(F.conv2d(x, conv.weight, None, conv.stride, conv.padding))  # the norm run on its own
    assert folded.is_contiguous(memory_format=memory_format)
    assert torch.allclose(folded, unfolded, atol=1e-5)
    grad = torch.randn_like(folded)
    got = torch.autograd.grad(folded, (x, conv.weight), grad)
    expected = torch.autograd.grad(unfolded, (x, conv.weight), grad)
    for g, e in zip(got, expected):
        assert torch.allclose(g, e, atol=1e-5 * e.abs().max().item())


def test_trainable_norms_run_after_the_conv():
    conv = ConvNorm(4, 4, 1, norm="BN").train()
    x = torch.randn(8, 4, 5, 5) * 3 + 2
    y = conv(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5)  # batch statistics were used
