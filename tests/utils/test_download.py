"""Weights by URL from a loopback server: downloaded once, checked, and every failure a clear error
that leaves nothing in the cache."""
import errno
import hashlib
import os
import socket

import pytest

from resnet_det.utils.download import DownloadError, cached_path, fetch

BODY = b"\x80\x04weights" * 1000
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_DET_CACHE", str(tmp_path / "cache"))


def _nothing_cached(tmp_path) -> bool:
    folder = tmp_path / "cache"
    return not folder.exists() or not [p for p in folder.rglob("*") if p.is_file()]


def test_a_file_is_downloaded_once_then_read_from_the_cache(http_files):
    http_files.routes["/w/R-50.pkl"] = (200, "application/octet-stream", BODY, None)
    url = f"{http_files.url}/w/R-50.pkl"
    first = fetch(url)
    assert first == cached_path(url) and first.read_bytes() == BODY
    assert fetch(url) == first and http_files.requests == ["/w/R-50.pkl"]  # no second download


@pytest.mark.parametrize("name", [f"resnet-{SHA[:8]}.pth", f"plain.pth#sha256={SHA}"])
def test_a_promised_checksum_is_checked(http_files, name):
    http_files.routes["/" + name.split("#")[0]] = (200, "application/octet-stream", BODY, None)
    assert fetch(f"{http_files.url}/{name}").read_bytes() == BODY


@pytest.mark.parametrize("case, route, match", [
    ("wrong checksum", ("/resnet-0badc0de.pth", (200, "application/octet-stream", BODY, None)),
     "sha256 is .* not the 0badc0de"),
    ("404", ("/elsewhere", (200, "application/octet-stream", BODY, None)), "the server answered 404 Not Found"),
    ("truncated", ("/resnet.pth", (200, "application/octet-stream", BODY[:500], len(BODY))),
     "connection closed after 500 bytes|stopped after 500"),
    ("html page", ("/resnet.pth", (200, "text/html", b"<html>sign in</html>", None)), "a web page"),
    ("html body", ("/resnet.pth", (200, "application/octet-stream", b"<!DOCTYPE html><html>x", None)),
     "sent a web page"),
])
def test_a_bad_download_is_an_error_and_keeps_nothing(http_files, tmp_path, case, route, match):
    http_files.routes[route[0]] = route[1]
    name = "resnet-0badc0de.pth" if case == "wrong checksum" else "resnet.pth"
    with pytest.raises(DownloadError, match=match):
        fetch(f"{http_files.url}/{name}")
    assert _nothing_cached(tmp_path)


def test_a_refused_connection_says_where_to_put_the_file(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ImageNetPretrained/MSRA/R-101.pkl"
    with pytest.raises(DownloadError, match=f"cannot download {url} .*put it at {cached_path(url)}"):
        fetch(url)
    assert _nothing_cached(tmp_path)


def test_a_full_disk_keeps_nothing(http_files, tmp_path, monkeypatch):
    http_files.routes["/resnet.pth"] = (200, "application/octet-stream", BODY, None)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DownloadError, match=r"cannot write .*resnet.pth \(No space left on device\); nothing was kept"):
        fetch(f"{http_files.url}/resnet.pth")
    monkeypatch.undo()
    assert _nothing_cached(tmp_path)
