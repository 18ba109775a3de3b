"""Fig. 7: the standard deviation of each 3x3 layer's response, plain nets against ResNets.

A response is the output of a 3x3 convolution's normalisation, before the ReLU and before the
shortcut is added. Its std is taken per channel over images and positions, then averaged over
channels.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from resnet_det.analysis.plotting import plt, pretty_name, save_figure
from resnet_det.data.datasets.classification import load_classification_dataset
from resnet_det.modeling.blocks import ConvNorm
from resnet_det.modeling.preprocess import Normalize
from resnet_det.modeling.registry import build_model
from resnet_det.utils.geometry import hwc_to_chw
from resnet_det.weights.files import load_weights
from resnet_det.weights.formats import WeightsFileError
from resnet_det.weights.loading import load_state_dict_checked


@torch.no_grad()
def response_stds(model: nn.Module, inputs: torch.Tensor, batch_size: int = 250) -> list[float]:
    """Std of every 3x3 layer's normalised response over ``inputs`` (already normalised), in layer order."""
    layers = [m for m in model.modules() if isinstance(m, ConvNorm) and m.kernel_size == (3, 3)]
    # Per layer: per-channel sum, sum of squares, and the number of values per channel.
    moments: list[list] = [[0.0, 0.0, 0] for _ in layers]

    def hook(i: int):
        def record(_module, _inputs, output):
            x = output.double().transpose(0, 1).flatten(1)
            moments[i][0] += x.sum(1)
            moments[i][1] += (x * x).sum(1)
            moments[i][2] += x.shape[1]
        return record

    handles = [layer.norm.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(inputs), batch_size):
            model(inputs[start:start + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    stds = []
    for total, total_sq, n in moments:
        mean = total / n
        stds.append((total_sq / n - mean * mean).clamp_min(0).sqrt().mean().item())
    return stds


def plot_fig7(stds: dict[str, list[float]], out: str | Path) -> Path:
    """Top: stds in layer order; bottom: sorted in descending order, as the paper's Fig. 7."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7))
    for i, (name, values) in enumerate(stds.items()):
        style = "--" if "plain" in name else "-"
        top.plot(range(1, len(values) + 1), values, style, color=f"C{i}", label=name)
        bottom.plot(range(1, len(values) + 1), sorted(values, reverse=True), style, color=f"C{i}", label=name)
    top.set(xlabel="layer index (original)", ylabel="std")
    bottom.set(xlabel="layer index (sorted by magnitude)", ylabel="std")
    return save_figure(fig, (top, bottom), out)


def fig7(checkpoints: list[str], dataset: str, root: str, num_images: int, out: str | Path) -> dict[str, list[float]]:
    """Response stds of each checkpoint's 3x3 layers on ``num_images`` images of ``dataset``; plot them."""
    data = load_classification_dataset(dataset, root)
    images = hwc_to_chw(data.images[:num_images])
    stds = {}
    for path in checkpoints:
        weights = load_weights(path)
        if weights.arch is None:
            raise WeightsFileError(f"{path}: cannot tell the architecture; train it with tools/train_cls.py")
        mean = weights.state_dict.get("stem.pixel_mean")  # trained with INPUT.NORMALIZE per_pixel_mean
        extra = {} if mean is None else {"mean_image_size": mean.shape[-1]}
        model = build_model(weights.arch, num_classes=len(data.classes), **extra)
        load_state_dict_checked(model, weights.state_dict, source=path)
        inputs = Normalize(weights.weight_style or "torchvision", per_pixel_mean=mean is not None)(images)
        stds[pretty_name(weights.arch)] = response_stds(model, inputs)
    plot_fig7(stds, out)
    return stds
