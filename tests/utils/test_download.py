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


def _files_outside(root, cache):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and cache not in p.parents)


@pytest.mark.parametrize("path", ["/../../../x/site-packages/evil.pth", "/a/%2e%2e/%2e%2e/%2e%2e/%2e%2e/x/evil.pth",
                                  "/w/..%2F..%2F..%2F..%2Fx%2Fevil.pth", "/w/.."])
def test_a_url_never_places_a_file_outside_the_cache(http_files, tmp_path, path):
    url = http_files.serve(path, BODY)
    got = fetch(url)
    cache = tmp_path / "cache"
    assert http_files.requests == [path]  # the server was really asked for the hostile path
    assert cache / "downloads" in got.resolve().parents and got.read_bytes() == BODY
    assert _files_outside(tmp_path, cache) == []  # nothing anywhere else, not merely an error
    assert ".." not in got.name and got.parent.parent == cache / "downloads"


def test_urls_that_differ_in_their_query_are_different_files(http_files):
    first = http_files.serve("/share?token=1", b"\x80first.")
    second = http_files.serve("/share?token=2", b"\x80second.")
    assert fetch(first).read_bytes() == b"\x80first." and fetch(second).read_bytes() == b"\x80second."
    assert cached_path(first) != cached_path(second) and cached_path(first).name == cached_path(second).name
    assert cached_path(first + f"#sha256={SHA}") == cached_path(first)  # the fragment never reaches the server


def test_a_promised_checksum_is_checked_on_every_use(http_files, caplog):
    url = http_files.serve(f"/resnet-{SHA[:8]}.pth", BODY)
    fetch(url).write_bytes(b"\x80tampered.")  # the cached copy changed after its download
    with caplog.at_level("WARNING"):
        assert fetch(url).read_bytes() == BODY
    assert "fails its check" in caplog.text and len(http_files.requests) == 2  # downloaded again
    fetch(url).write_bytes(b"\x80tampered.")
    http_files.routes.clear()
    with pytest.raises(DownloadError, match="404"):  # offline or gone: an error, never the tampered file
        fetch(url)
    assert not cached_path(url).exists()


def _weights_check(head: bytes, tail: bytes):
    from resnet_det.weights.files import download_problem
    return download_problem(head, tail)


@pytest.mark.parametrize("body, how, match", [
    pytest.param(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code></Error>', {},
                 "sent an XML document, not the file", id="xml error page"),
    pytest.param(b"\n  <!DOCTYPE html><html><body>Sign in</body></html>", {}, "sent a web page", id="html body"),
    pytest.param(BODY[:500] + b"\x80\x04", {"send_length": False}, "a pickle cut short", id="pickle cut, no length"),
    pytest.param(b"PK\x03\x04" + b"\0" * 4000, {"send_length": False}, "zip .* cut short", id="zip cut, no length"),
    pytest.param(b"PK\x03\x04" + b"\0" * 4000, {"length": 9000}, "stopped after 4004 of 9000", id="zip cut, length"),
    pytest.param(b"GIF89a" + b"\0" * 100, {}, "not a torch or pickle weights file", id="not weights"),
])
def test_a_body_that_is_not_the_file_asked_for_is_never_kept(http_files, tmp_path, body, how, match):
    with pytest.raises(DownloadError, match=match):
        fetch(http_files.serve("/R-50.pkl", body, **how), check=_weights_check)
    assert _nothing_cached(tmp_path)


def test_complete_weights_files_pass_the_body_check(http_files, tmp_path):
    import io

    import torch
    saved = io.BytesIO()
    torch.save({"w": torch.ones(3)}, saved)
    legacy = io.BytesIO()
    torch.save({"w": torch.ones(3)}, legacy, _use_new_zipfile_serialization=False)
    for name, body in [("new.pth", saved.getvalue()), ("legacy.pth", legacy.getvalue()), ("R-50.pkl", BODY + b".")]:
        assert fetch(http_files.serve(f"/{name}", body, send_length=False), check=_weights_check).read_bytes() == body


@pytest.mark.parametrize("how, match", [pytest.param({"delay": 0.02}, "bytes/s over the last", id="trickle"),
                                        pytest.param({"delay": 30, "stall": True}, "timed out", id="stall"),
                                        pytest.param({"header_delay": 0.3}, r"no answer within 1 s",
                                                     id="headers a line at a time")])
def test_a_trickling_or_stalled_download_ends_with_a_named_error_in_bounded_time(http_files, tmp_path, how, match):
    import time
    url = http_files.serve("/slow.pth", BODY, **how)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=match):
        fetch(url, timeout=1.0, min_rate=1000, rate_window=0.5)
    assert time.monotonic() - started < 10 and _nothing_cached(tmp_path)


def test_a_sha256_fragment_is_read_in_either_case_and_a_malformed_one_is_refused(http_files, tmp_path):
    assert fetch(http_files.serve("/a.pth", BODY) + f"#sha256={SHA.upper()}").read_bytes() == BODY
    with pytest.raises(DownloadError, match="not the 0badc0de"):
        fetch(http_files.serve("/b.pth", BODY) + "#sha256=0BADC0DE")
    with pytest.raises(DownloadError, match="its #sha256= fragment is not 8 to 64 hexadecimal digits"):
        fetch(http_files.serve("/c.pth", BODY) + "#sha256=12345ZZ")
    assert fetch(http_files.serve("/r50-20231201.pth", BODY)).read_bytes() == BODY  # a date, not a hash


@pytest.mark.parametrize("url, served, match", [
    pytest.param("{url}/bad-length.pth", {"length": "abc"}, "invalid Content-Length 'abc'",
                 id="Content-Length abc"),
    pytest.param("http://[::1/a.pth", None, "not a valid URL", id="broken IPv6 host"),
    pytest.param("ftp://host/a.pth", None, "not an http\\(s\\) URL", id="another scheme"),
])
def test_a_malformed_url_or_answer_is_a_named_error(http_files, tmp_path, url, served, match):
    if served is not None:
        http_files.serve("/bad-length.pth", BODY, **served)
    with pytest.raises(DownloadError, match=match):
        fetch(url.format(url=http_files.url))
    assert _nothing_cached(tmp_path)


def test_a_path_outside_ascii_is_sent_escaped(http_files):
    http_files.serve("/%C3%BCn%C3%AF/w.pth", BODY)
    assert fetch(f"{http_files.url}/ünï/w.pth").read_bytes() == BODY
