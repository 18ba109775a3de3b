"""JPEG training images decoded and augmented on the training device (``DATALOADER.DECODE_ON_DEVICE``).

The loader's workers then only read files, probe their headers and draw each image's view (its
size is in the header); the main process decodes a whole batch in one call, with nvJPEG on a
GPU (torchvision sends baseline JPEGs to the hardware decoder of A100 and later GPUs), and
resizes, crops and flips there; decoding is most of a worker's time per image (BENCHMARKS.md).
This is for hosts whose cores cannot keep up with the GPU: on a CPU the main process decodes one
image at a time.

Files nvJPEG should not take (not JPEG, CMYK, progressive, EXIF-rotated) are decoded and viewed
by the worker as without this option. A JPEG that nvJPEG refuses is decoded on the host instead,
and one nothing can decode is skipped (replaced within its batch) or raised, as
``DATALOADER.ON_BAD_IMAGE`` says. torchvision 0.29 deprecates its decoders in favour of TorchCodec
and still ships them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_jpeg

from resnet_det.data.decode.files import EncodedImage, ImageDecodeError, decode_rgb
from resnet_det.data.decode.policy import skip_training_image
from resnet_det.data.loaders.batches import ImageBatch, LabelledImage
from resnet_det.data.loaders.cls_transforms import View
from resnet_det.utils.geometry import hwc_to_chw
from resnet_det.utils.transfer import to_device

# Pillow's modes of JPEGs that decode to the same RGB everywhere (YCbCr reports "RGB").
_DEVICE_MODES = ("RGB", "L")


def device_decodable(encoded: EncodedImage) -> bool:
    """Whether the training device decodes this file: a baseline or extended JPEG in colour or
    grey, displayed as stored. Progressive JPEGs would go through nvJPEG's per-image host path."""
    return (encoded.format == "JPEG" and encoded.mode in _DEVICE_MODES and encoded.orientation == 1
            and not encoded.progressive)


@dataclass
class JpegSample:
    """A worker's item for the device: the file (bytes and header), the view drawn for it and its label."""

    encoded: EncodedImage
    view: View
    label: int


# A worker's item: a JPEG for the device, or a finished sample of a file it decoded itself.
Sample = JpegSample | LabelledImage


@dataclass
class DeviceBatch:
    """A worker's batch: the JPEGs' bytes back to back in one tensor, and the items (their
    headers without the bytes). One tensor crosses to the main process through one shared-memory
    block; a tensor per file would hold a file descriptor per image in flight."""

    jpegs: torch.Tensor
    lengths: list[int]
    samples: list[Sample]


def pack(samples: list[Sample]) -> DeviceBatch:
    """The workers' ``collate_fn`` for :func:`decode_batch`."""
    datas = [s.encoded.data for s in samples if isinstance(s, JpegSample)]
    lengths = [len(d) for d in datas]
    jpegs = np.empty(sum(lengths), np.uint8)
    for start, data in zip(np.cumsum([0, *lengths[:-1]]), datas):
        jpegs[start:start + len(data)] = np.frombuffer(data, np.uint8)
    stripped = [JpegSample(dataclasses.replace(s.encoded, data=b""), s.view, s.label) if isinstance(s, JpegSample)
                else s for s in samples]
    return DeviceBatch(torch.from_numpy(jpegs), lengths, stripped)


def apply_views(images: Sequence[torch.Tensor], views: Sequence[View], out: Sequence[torch.Tensor]) -> None:
    """Write the view of each 3 x H x W uint8 image into its ``out`` (3 x crop x crop uint8), on
    the images' device: :func:`~resnet_det.data.loaders.cls_transforms.apply_view` of the whole image.

    Bilinear, antialiased when shrinking (where the CPU path averages areas), so the two agree to
    a few levels rather than exactly. None of its kernels waits for the device, so the training
    step queued before keeps the GPU busy meanwhile.
    """
    for dst, image, view in zip(out, images, views):
        (h, w), (old_h, old_w) = view.size, image.shape[1:]
        x = image[None].float()
        if (h, w) != (old_h, old_w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=h < old_h)
        x = x[0, :, view.top:view.top + view.crop, view.left:view.left + view.crop]
        # Both filters weigh pixels convexly, so x stays in [0, 255]: adding 0.5 and truncating rounds.
        dst.copy_((x.flip(-1) if view.flip else x).add(0.5))


def _decode_one(jpeg: torch.Tensor, sample: JpegSample, device: torch.device) -> torch.Tensor | ImageDecodeError:
    try:
        return decode_jpeg(jpeg, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        pass
    try:  # nvJPEG refuses some files that libjpeg-turbo reads; only a file neither reads is bad
        image = decode_rgb(dataclasses.replace(sample.encoded, data=jpeg.numpy().tobytes()))
    except ImageDecodeError as e:
        return e
    return hwc_to_chw(image).to(device)


def _decode_all(jpegs: list[torch.Tensor], samples: list[JpegSample],
                device: torch.device) -> list[torch.Tensor | ImageDecodeError]:
    if not jpegs:
        return []
    try:
        return decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:  # one bad file fails the whole batch: find it
        return [_decode_one(jpeg, sample, device) for jpeg, sample in zip(jpegs, samples)]


def decode_batch(batch: DeviceBatch, device: torch.device, on_bad_image: str) -> ImageBatch:
    """The batch's images (N x 3 x crop x crop uint8) and labels (N int64) on ``device``.

    An image that cannot be decoded is logged and replaced by the next good one of the batch
    (so the batch keeps its size), or raised under ``on_bad_image="fail"``.
    """
    samples = batch.samples
    first = samples[0]
    crop = first.view.crop if isinstance(first, JpegSample) else first.image.shape[-1]
    out = torch.empty(len(samples), 3, crop, crop, dtype=torch.uint8, device=device)
    labels = [s.label for s in samples]
    positions = [i for i, s in enumerate(samples) if isinstance(s, JpegSample)]
    jpegs = list(torch.split(batch.jpegs, batch.lengths))
    bad, targets, images, views = set(), [], [], []
    for i, image in zip(positions, _decode_all(jpegs, [samples[i] for i in positions], device)):
        if isinstance(image, ImageDecodeError):
            skip_training_image(image, on_bad_image)
            bad.add(i)
        else:
            targets.append(out[i])
            images.append(image)
            views.append(samples[i].view)
    apply_views(images, views, targets)
    for i, sample in enumerate(samples):
        if not isinstance(sample, JpegSample):
            out[i].copy_(to_device(sample.image, device))
    good = [i for i in range(len(samples)) if i not in bad]
    if not good:
        raise ImageDecodeError(f"none of the {len(samples)} images of a training batch could be decoded, "
                               f"the first being {first.encoded.path}")
    for i in sorted(bad):
        j = next((k for k in good if k > i), good[0])
        out[i].copy_(out[j])
        labels[i] = labels[j]
    return ImageBatch(out, to_device(torch.tensor(labels), device))
