"""JPEG training batches decoded on the training device: the same views as the worker pipeline,
every file kind routed to a decoder that reads it right, and bad files skipped or named."""
import logging

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from resnet_det.config import load_config
from resnet_det.data.datasets.classification import FileDataset
from resnet_det.data.decode.files import ImageDecodeError, read_encoded, read_rgb
from resnet_det.data.loaders import device_decode
from resnet_det.data.loaders.classification import build_train_batches
from resnet_det.data.loaders.cls_transforms import View, _interpolation, apply_view
from resnet_det.data.loaders.device_decode import apply_views, device_decodable
from resnet_det.data.loaders.image_files import FileBatches


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Blurred noise: detail at every position, so a misplaced crop or a wrong filter shows."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.float32)
    image = cv2.GaussianBlur(noise, (0, 0), 2)
    return np.clip((image - image.mean()) * 4 + 128, 0, 255).astype(np.uint8)


def _save(path, image: np.ndarray, mode: str = "RGB", **kwargs):
    Image.fromarray(image).convert(mode).save(path, **kwargs)
    return path


def _orientation_6() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif


# name -> (writes the file into a folder, whether the device decodes it)
KINDS = {
    "jpeg": (lambda d: _save(d / "a.jpg", _texture(90, 120, 0), quality=95), True),
    "jpeg_portrait": (lambda d: _save(d / "b.jpg", _texture(130, 70, 1), quality=90), True),
    "grey_jpeg": (lambda d: _save(d / "c.jpg", _texture(80, 100, 2), "L", quality=95), True),
    "progressive_jpeg": (lambda d: _save(d / "d.jpg", _texture(90, 90, 3), progressive=True), False),
    "cmyk_jpeg": (lambda d: _save(d / "e.jpg", _texture(70, 110, 4), "CMYK"), False),
    "rotated_jpeg": (lambda d: _save(d / "f.jpg", _texture(60, 100, 5), exif=_orientation_6()), False),
    "png": (lambda d: _save(d / "g.png", _texture(100, 80, 6)), False),
}
VIEW = dict(shorter_side=(64, 150), sampling="range", crop=56, flip=True)


@pytest.fixture
def folder(tmp_path):
    return [write(tmp_path) for write, _ in KINDS.values()]


def _view(image: torch.Tensor, view: View) -> torch.Tensor:
    out = torch.empty(1, 3, view.crop, view.crop, dtype=torch.uint8)
    apply_views([image], [view], out)
    return out[0]


def _batches(paths, decode_on_device: bool, batch_size: int = 7, **kwargs):
    kwargs = {"num_workers": 0, **VIEW, **kwargs}
    return FileBatches(paths, list(range(len(paths))), batch_size, seed=3, device=torch.device("cpu"),
                       decode_on_device=decode_on_device, **kwargs)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_only_plain_jpegs_go_to_the_device(tmp_path, kind):
    write, on_device = KINDS[kind]
    assert device_decodable(read_encoded(write(tmp_path))) == on_device


# (stored h, w) -> views: upscaling, shrinking (antialiased here, area-averaged on the CPU), and
# cropping without resizing
VIEWS = [View((180, 240), 37, 101, 56, False), View((180, 240), 0, 184, 56, True),
         View((60, 80), 3, 20, 56, False), View((30, 40), 0, 2, 28, True), View((90, 120), 10, 33, 56, True)]


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: f"{v.size[0]}x{v.size[1]}{'_flip' if v.flip else ''}")
def test_view_matches_resizing_the_whole_image(view):
    image = _texture(90, 120, 7)
    h, w = view.size
    whole = cv2.resize(image, (w, h), interpolation=_interpolation(h / 90))[
        view.top:view.top + view.crop, view.left:view.left + view.crop]
    whole = whole[:, ::-1] if view.flip else whole
    got = _view(torch.from_numpy(image).permute(2, 0, 1), view).permute(1, 2, 0).numpy()
    diff = np.abs(got.astype(int) - whole.astype(int))
    if view.size == (90, 120):
        assert np.array_equal(got, whole)
    elif h > 90:  # bilinear both; OpenCV's fixed-point weights round differently (measured: 0.08)
        assert diff.max() <= 1 and diff.mean() < 0.2
    else:  # two alias-free filters, a triangle here and a box there
        assert diff.mean() < 3.5 and np.percentile(diff, 99) <= 12


def test_shrinking_is_alias_free():
    checkerboard = (np.indices((90, 120)).sum(0) % 2 * 255).astype(np.uint8)
    shrunk = _view(torch.from_numpy(checkerboard).expand(3, -1, -1), View((30, 40), 0, 0, 28, False))
    assert abs(shrunk.float().mean() - 127.5) < 2 and shrunk.float().std() < 2  # flat grey, not a pattern


def test_batches_match_the_worker_pipeline(folder):
    kinds = list(KINDS)
    for _, cpu, dev in zip(range(3), _batches(folder, False).iterate(0), _batches(folder, True).iterate(0)):
        assert torch.equal(cpu.labels, dev.labels) and dev.images.dtype == torch.uint8
        assert dev.images.shape == (7, 3, 56, 56)
        for image_cpu, image_dev, label in zip(cpu.images, dev.images, cpu.labels.tolist()):
            if KINDS[kinds[label]][1]:
                # The worker's crop resizes only the pixels it keeps, up to half a pixel off the
                # whole-image resize the device does (measured: up to 4.4 levels on average).
                assert (image_cpu.int() - image_dev.int()).abs().float().mean() < 6
            else:  # decoded and viewed by the worker either way
                assert torch.equal(image_cpu, image_dev)


def test_a_batch_crosses_as_one_tensor_of_bytes(folder):
    """The workers send each batch's files in one shared-memory block, not one per image."""
    samples = [_batches(folder, True).samples[0, slot] for slot in range(7)]
    batch = device_decode.pack(samples)
    files = {s.encoded.path.name: s.encoded.data for s in samples if isinstance(s, device_decode.JpegSample)}
    assert batch.jpegs.dtype == torch.uint8 and batch.jpegs.dim() == 1
    assert bytes(batch.jpegs.numpy()) == b"".join(files.values()) and batch.lengths == [len(d) for d in files.values()]
    assert all(s.encoded.data == b"" for s in batch.samples if isinstance(s, device_decode.JpegSample))
    finished_only = device_decode.pack([s for s in samples if not isinstance(s, device_decode.JpegSample)])
    decoded = device_decode.decode_batch(finished_only, torch.device("cpu"), "fail")
    assert decoded.images.shape == (len(samples) - len(files), 3, 56, 56) and len(decoded.labels) == len(decoded.images)


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_iteration_gets_the_same_batch(folder, workers):
    straight = [b.images for _, b in zip(range(3), _batches(folder, True, 4, num_workers=workers).iterate(0))]
    resumed = next(_batches(folder, True, 4, num_workers=workers).iterate(2))
    assert torch.equal(resumed.images, straight[2])


def test_a_jpeg_nvjpeg_refuses_is_decoded_on_the_host(folder, monkeypatch):
    expected = next(_batches(folder, True).iterate(0))
    real = device_decode.decode_jpeg

    def picky(data, **kwargs):  # refuses the batch and, alone, the first file's bytes
        if isinstance(data, list) or len(data) == folder[0].stat().st_size:
            raise RuntimeError("nvjpeg: unsupported")
        return real(data, **kwargs)

    monkeypatch.setattr(device_decode, "decode_jpeg", picky)
    got = next(_batches(folder, True).iterate(0))
    assert torch.equal(got.labels, expected.labels) and torch.equal(got.images, expected.images)


def test_a_file_nothing_decodes_is_replaced_within_its_batch(folder, caplog):
    good = [batch for _, batch in zip(range(3), _batches(folder, True).iterate(0))]
    data = folder[0].read_bytes()
    folder[0].write_bytes(data[: len(data) * 2 // 3])  # header intact: only decoding finds it
    with caplog.at_level(logging.WARNING):
        for got, ok in zip(_batches(folder, True).iterate(0), good):
            bad = ok.labels.tolist().index(0)  # a different slot in each batch
            substitute = bad + 1 if bad + 1 < len(got.labels) else 0  # the next good image of the batch
            expected_images, expected_labels = ok.images.clone(), ok.labels.clone()
            expected_images[bad], expected_labels[bad] = ok.images[substitute], ok.labels[substitute]
            assert torch.equal(got.labels, expected_labels) and torch.equal(got.images, expected_images)
    assert "a.jpg" in caplog.text and "truncated" in caplog.text


def test_a_file_nothing_decodes_is_named_under_fail(folder):
    data = folder[0].read_bytes()
    folder[0].write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageDecodeError, match="a.jpg.*ON_BAD_IMAGE"):
        next(_batches(folder, True, on_bad_image="fail").iterate(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="nvJPEG needs a CUDA device")
def test_nvjpeg_agrees_with_the_host_decoder(folder):
    jpegs = [p for p, (_, on_device) in zip(folder, KINDS.values()) if on_device]
    for path in jpegs:
        image = read_rgb(path)
        view = View(image.shape[:2], 0, 0, min(image.shape[:2]), False)
        host = apply_view(image, view)
        batch = device_decode.pack([device_decode.JpegSample(read_encoded(path), view, 0)])
        got = device_decode.decode_batch(batch, torch.device("cuda"), "fail").images
        # Decoders may round the inverse DCT and upsample chroma differently, by a level or two.
        assert (got[0].permute(1, 2, 0).cpu().int() - torch.from_numpy(host).int()).abs().float().mean() < 2


def test_config_switches_it_on(folder, caplog):
    dataset = FileDataset(folder, list(range(len(folder))), tuple(KINDS))
    batches = {}
    for on in (False, True):
        cfg = load_config("configs/imagenet_r18.yaml", [
            "DATALOADER.DECODE_ON_DEVICE", str(on), "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "7",
            "INPUT.CROP_SIZE", "56", "INPUT.MIN_SIZE_TRAIN", "(64, 150)"])
        with caplog.at_level(logging.WARNING):
            source = build_train_batches(cfg, dataset, torch.device("cpu"), 0, 1)
        assert source.decode_on_device == on and ("the option is for GPUs" in caplog.text) == on
        batches[on] = next(source.iterate(0))
    assert torch.equal(batches[False].labels, batches[True].labels) and batches[True].images.shape == (7, 3, 56, 56)
