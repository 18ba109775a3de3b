"""Reading every kind of image file users have: decoded right, or refused with the file named."""
import io
import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from resnet_det.data.decode.files import ImageDecodeError, apply_exif_orientation, read_rgb
from resnet_det.data.decode.policy import read_or_substitute


def _photo(h=48, w=64) -> np.ndarray:
    """Smooth (so JPEG keeps it well) and asymmetric (so every turn and flip shows)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, np.where(x < w // 4, 230, 20)], -1).astype(np.uint8)


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _jpeg(**kwargs) -> bytes:
    return _encode(Image.fromarray(_photo()), "JPEG", quality=95, **kwargs)


# name -> (file name, bytes, what the error says)
_REFUSED = {
    "zero_bytes": ("empty.jpg", lambda: b"", "empty file"),
    "truncated_jpeg": ("cut.jpg", lambda: _jpeg()[: len(_jpeg()) * 2 // 3], "truncated JPEG"),
    "truncated_jpeg_no_end_marker": ("cut2.jpg", lambda: _jpeg()[:-2], "truncated JPEG"),
    "truncated_progressive_jpeg": ("prog.jpg", lambda: _jpeg(progressive=True)[:-300], "truncated JPEG"),
    "truncated_png": ("cut.png", lambda: _encode(Image.fromarray(_photo()), "PNG")[:-40], "truncated PNG"),
    "not_an_image": ("notes.jpg", lambda: b"name,label\ncat,1\n" * 20, "not an image"),
    "random_bytes": ("noise.png", lambda: np.random.default_rng(0).bytes(5000), "not an image"),
    "html_error_page": ("dl.jpg", lambda: b"<html><body>403 Forbidden</body></html>", "not an image"),
}


@pytest.mark.parametrize("case", sorted(_REFUSED))
def test_unusable_files_are_refused_with_their_name_and_reason(tmp_path, case):
    name, data, reason = _REFUSED[case]
    path = _write(tmp_path, name, data())
    with pytest.raises(ImageDecodeError) as info:
        read_rgb(path)
    assert str(path) in str(info.value) and reason in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ImageDecodeError, match=r"gone\.jpg: cannot read"):
        read_rgb(tmp_path / "gone.jpg")


@pytest.mark.parametrize("mode,fmt", [("L", "JPEG"), ("L", "PNG"), ("CMYK", "JPEG"), ("RGBA", "PNG"),
                                      ("P", "PNG"), ("LA", "PNG"), ("RGB", "WEBP"), ("RGB", "BMP"),
                                      ("RGB", "TIFF")])
def test_other_colour_modes_become_rgb(tmp_path, mode, fmt):
    photo = Image.fromarray(_photo())
    source = photo.convert(mode)
    path = _write(tmp_path, f"x.{fmt.lower()}", _encode(source, fmt, **({"quality": 95} if fmt == "JPEG" else {})))
    image = read_rgb(path)
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    # Pillow's own reading of the same file, converted to RGB, is the reference (alpha dropped).
    reference = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    assert np.abs(image.astype(np.int16) - reference).mean() < 1.5
    if mode in ("L", "LA"):
        assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_png_keeps_the_high_byte(tmp_path, channels):
    import cv2
    rng = np.random.default_rng(1)
    deep = rng.integers(0, 65536, size=(20, 30, channels), dtype=np.uint16)
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), deep if channels == 3 else deep[..., 0])
    image = read_rgb(path)
    expected = (deep >> 8).astype(np.uint8)
    expected = np.repeat(expected, 3, -1) if channels == 1 else expected[..., ::-1]  # written as BGR
    assert image.dtype == np.uint8 and np.array_equal(image, expected)


def test_a_lying_extension_is_ignored(tmp_path):
    path = _write(tmp_path, "really_a_png.jpg", _encode(Image.fromarray(_photo()), "PNG"))
    assert np.array_equal(read_rgb(path), _photo())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _write(tmp_path, "turned.jpg", _jpeg(exif=exif.tobytes()))
    reference = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"), dtype=np.int16)
    image = read_rgb(path)
    assert image.shape == reference.shape
    assert np.abs(image.astype(np.int16) - reference).mean() < 1.5


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_exif_orientation_is_pillows_transpose(orientation):
    photo = _photo(5, 7)
    exif = Image.Exif()
    exif[0x0112] = orientation
    pil = Image.fromarray(photo)
    pil.info["exif"] = exif.tobytes()
    pil.getexif()[0x0112] = orientation
    assert np.array_equal(apply_exif_orientation(photo, orientation), np.asarray(ImageOps.exif_transpose(pil)))


def test_annotation_size_decides_between_displayed_and_stored_pixels(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 48 x 64, displayed 64 x 48
    path = _write(tmp_path, "phone.jpg", _jpeg(exif=exif.tobytes()))
    assert read_rgb(path, expected_size=(64, 48)).shape == (64, 48, 3)  # annotated as displayed
    stored = read_rgb(path, expected_size=(48, 64))  # annotated by a tool that ignored EXIF
    assert stored.shape == (48, 64, 3) and np.abs(stored.astype(int) - _photo()).mean() < 2
    with pytest.raises(ImageDecodeError, match="phone.jpg: image is 64 x 48 .* annotations say 100 x 100"):
        read_rgb(path, expected_size=(100, 100))


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    bomb = _encode(Image.new("L", (30000, 30000)), "PNG")  # under 1 MB on disk, 2.7 GB decoded
    assert len(bomb) < 1_000_000
    path = _write(tmp_path, "bomb.png", bomb)
    with pytest.raises(ImageDecodeError, match=r"bomb.png: 30000 x 30000 image \(900 megapixels\) is over the limit"):
        read_rgb(path)
    with pytest.raises(ImageDecodeError, match="over the limit of 0 megapixels"):
        read_rgb(_write(tmp_path, "small.jpg", _jpeg()), max_pixels=1000)


def test_bad_training_images_are_skipped_deterministically_or_fail(caplog):
    def read(i: int) -> str:
        if i in (2, 3):
            raise ImageDecodeError(f"img{i}.jpg: corrupt")
        return f"image {i}"

    with caplog.at_level(logging.WARNING):
        assert read_or_substitute(read, 2, 5, "skip") == (4, "image 4")
    assert "img2.jpg" in caplog.text and "img3.jpg" in caplog.text
    assert read_or_substitute(read, 4, 5, "skip") == (4, "image 4")
    with pytest.raises(ImageDecodeError, match="img2.jpg: corrupt .*ON_BAD_IMAGE skip"):
        read_or_substitute(read, 2, 5, "fail")
    with pytest.raises(ImageDecodeError, match="8 consecutive"):
        read_or_substitute(lambda i: read(2), 0, 5, "skip")
    with pytest.raises(ValueError, match="ON_BAD_IMAGE must be one of"):
        read_or_substitute(read, 0, 5, "ignore")


_VALID = {"jpg": lambda: _jpeg(), "png": lambda: _encode(Image.fromarray(_photo()), "PNG"),
          "progressive.jpg": lambda: _jpeg(progressive=True)}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(_VALID)), st.data())
def test_damaged_files_decode_or_are_refused_never_anything_else(tmp_path_factory, kind, data):
    raw = bytearray(_VALID[kind]())
    for _ in range(data.draw(st.integers(1, 4))):
        what = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, len(raw) - 1))
        if what == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        elif what == "cut":
            del raw[at:at + data.draw(st.integers(1, 64))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        if not raw:
            raw = bytearray(b"\0")
    path = tmp_path_factory.mktemp("fuzz") / f"x.{kind}"
    path.write_bytes(bytes(raw))
    try:
        image = read_rgb(path, max_pixels=10_000_000)
    except ImageDecodeError as e:
        assert str(path) in str(e)
    else:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
