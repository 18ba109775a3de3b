import pytest
import torch

from resnet_det.utils.atomic import atomic_torch_save, atomic_write


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "ckpt.pth"
    atomic_torch_save({"x": torch.ones(3)}, path)

    def broken(f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(path, broken)
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pth"]  # no temporary file left behind


def test_creates_parent_directories(tmp_path):
    path = atomic_write(tmp_path / "a" / "b" / "f.bin", lambda f: f.write(b"ok"))
    assert path.read_bytes() == b"ok"
