"""Files by URL, downloaded once into the cache: written atomically, checked on every use, and with
errors that say what went wrong and, offline, where to put the file by hand.

A cache entry is ``<cache>/downloads/<digest of the URL>/<cleaned file name>``: the URL picks a
folder by its digest and never by its path segments, so no URL (``..`` segments, encoded
slashes, a query string) can place a file outside the cache, and URLs that differ in any part
that reaches the server (a presigned link's query string) are different entries.

A checksum is checked where the URL carries one: torch.hub's ``name-<sha256 prefix>.ext`` file
names (torchvision's weights), or a ``#sha256=<hex>`` fragment a user adds. It is checked on every
use, a cached file included; a cached file that fails it is removed and downloaded again.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import SplitResult, quote, unquote, urlsplit

from resnet_det.errors import UserError
from resnet_det.utils.atomic import atomic_write
from resnet_det.utils.cache import cache_dir

logger = logging.getLogger(__name__)
# torch.hub's name-<sha256 prefix>.ext; a prefix of digits alone is more likely a date or a version.
_HUB_HASH = re.compile(r"-(?=[0-9]*[a-f])([a-f0-9]{8,64})\.[A-Za-z0-9]+$")
_FRAGMENT_HASH = re.compile(r"^sha256=([a-fA-F0-9]{8,64})$")
_CHUNK = 1 << 20
_HEAD, _TAIL = 512, 1 << 17  # what a body check sees of the start and the end of a download
# A download slower than this over a whole window is given up: the per-read timeout catches a
# server that stops, this one a server that trickles a byte at a time.
MIN_RATE = 16 * 1024  # bytes per second
RATE_WINDOW = 60.0  # seconds

# (first bytes, last bytes) of a complete download -> why it is not what was asked for, or None.
BodyCheck = Callable[[bytes, bytes], "str | None"]


class DownloadError(UserError, RuntimeError):
    """A file could not be downloaded or failed its checks; nothing of it was kept in the cache."""


def _cache_name(path: str) -> str:
    """The URL path's last segment, reduced to a plain file name (never ``..``, never a folder)."""
    name = re.sub(r"[^A-Za-z0-9._-]|\.{2,}", "_", unquote(path.rsplit("/", 1)[-1])).lstrip(".")
    return name[-100:] or "download"


def _split(url: str) -> SplitResult:
    """``url``'s parts, checked: an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed, and so checked, on access
    except ValueError as e:
        raise DownloadError(f"{url}: not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadError(f"{url}: not an http(s) URL with a host")
    return parts


def cached_path(url: str) -> Path:
    """Where the cache keeps ``url``'s file: ``<cache>/downloads/<sha256 of the URL, 16 hex>/<name>``.

    The fragment, which never reaches the server, is not part of the digest: ``#sha256=`` added to a
    URL names the same file."""
    parts = _split(url)
    digest = hashlib.sha256(parts._replace(fragment="").geturl().encode()).hexdigest()[:16]
    return cache_dir() / "downloads" / digest / _cache_name(parts.path)


def expected_sha256(url: str) -> str | None:
    """The sha256 (or its prefix, lower case) the URL promises, if it names one: a ``#sha256=`` fragment,
    else a torch.hub file name."""
    parts = _split(url)
    if parts.fragment.startswith("sha256="):
        if not (m := _FRAGMENT_HASH.match(parts.fragment)):
            raise DownloadError(f"{url}: its #sha256= fragment is not 8 to 64 hexadecimal digits")
        return m[1].lower()
    m = _HUB_HASH.search(parts.path)
    return m[1] if m else None


def _markup_problem(head: bytes) -> str | None:
    """Why a body that starts with ``head`` is an error page rather than a file, or None."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:256].lower()
    if start.startswith(b"<") and any(tag in start for tag in (b"html", b"<?xml", b"<error")):
        kind = "an XML document" if start.startswith(b"<?xml") or b"<error" in start else "a web page"
        return f"sent {kind}, not the file (a login, error or redirect page?)"
    return None


class _Transfer:
    """What :func:`_copy_checked` has seen of a body so far."""

    def __init__(self) -> None:
        self.digest, self.size = hashlib.sha256(), 0
        self.head, self.tail = b"", b""

    def add(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        if len(self.head) < _HEAD:
            self.head += chunk[:_HEAD - len(self.head)]
        self.tail = (self.tail + chunk)[-_TAIL:]


def _checksum_problem(hexdigest: str, expected: str | None) -> str | None:
    if expected and not hexdigest.startswith(expected):
        return (f"its sha256 is {hexdigest}, not the {expected}... its URL promises (by a #sha256= fragment, or a "
                "torch.hub name-<hash>.ext name; a #sha256= fragment overrides the name's)")
    return None


def _copy_checked(response: http.client.HTTPResponse, url: str, expected: str | None, check: BodyCheck | None,
                  min_rate: float, rate_window: float, f: BinaryIO) -> None:
    length = response.headers.get("Content-Length")
    if length is not None and not length.strip().isdigit():
        raise DownloadError(f"{url}: the server sent an invalid Content-Length {length!r}")
    seen = _Transfer()
    window_start, window_size = time.monotonic(), 0
    # read1: whatever has arrived, so that a trickle is measured instead of blocking a whole chunk.
    while chunk := response.read1(_CHUNK):
        if seen.size == 0 and (problem := _markup_problem(chunk[:_HEAD])):
            raise DownloadError(f"{url} {problem}")
        f.write(chunk)
        seen.add(chunk)
        now = time.monotonic()
        if now - window_start >= rate_window:
            rate = (seen.size - window_size) / (now - window_start)
            if rate < min_rate:
                raise DownloadError(f"{url}: {rate:.0f} bytes/s over the last {now - window_start:.0f} s, under the "
                                    f"minimum of {min_rate:.0f} (a stalled or throttled server); nothing was kept, "
                                    "try again")
            window_start, window_size = now, seen.size
    if seen.size == 0:
        raise DownloadError(f"{url}: the server sent an empty body")
    if length is not None and seen.size != int(length):
        raise DownloadError(f"{url}: the download stopped after {seen.size} of {length} bytes")
    if problem := _checksum_problem(seen.digest.hexdigest(), expected):
        raise DownloadError(f"{url}: {problem}")
    if check is not None and (problem := check(seen.head, seen.tail)):
        raise DownloadError(f"{url}: {problem}; nothing was kept")


def _cached_problem(path: Path, expected: str | None, check: BodyCheck | None) -> str | None:
    """Why the cached ``path`` is not a good copy (its checksum, its body), or None."""
    seen = _Transfer()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            seen.add(chunk)
    problem = _checksum_problem(seen.digest.hexdigest(), expected)
    return problem or (check(seen.head, seen.tail) if check is not None else None)


class _AnswerDeadline:
    """Shuts a download's connections down if its answer (connection and headers) takes longer than
    ``seconds`` in all: a read timeout alone lets a server that sends its headers a line at a time
    hold a download for ever. The body is then held to :data:`MIN_RATE` instead."""

    def __init__(self, seconds: float) -> None:
        self.connections: list[http.client.HTTPConnection] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        self.expired = True
        for connection in self.connections:
            if connection.sock is not None:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)

    def opener(self) -> urllib.request.OpenerDirector:
        """urllib's opener, with every connection it makes (redirects included) watched."""
        deadline = self

        def watched(connection_class: type) -> Callable[..., http.client.HTTPConnection]:
            def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
                deadline.connections.append(connection_class(*args, **kwargs))
                return deadline.connections[-1]
            return make

        class Http(urllib.request.HTTPHandler):
            def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
                return super().do_open(watched(http_class), req, **kwargs)

        class Https(urllib.request.HTTPSHandler):
            def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
                return super().do_open(watched(http_class), req, **kwargs)

        return urllib.request.build_opener(Http, Https)

    def __enter__(self) -> _AnswerDeadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _request_url(url: str) -> str:
    """``url`` as sent: without its fragment, characters outside ASCII in its path and query escaped."""
    parts = _split(url)
    keep = "/%:@!$&'()*+,;=~?"
    return parts._replace(path=quote(parts.path, safe=keep), query=quote(parts.query, safe=keep), fragment="").geturl()


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    """The response to ``url`` once its headers have arrived, within ``timeout`` seconds in all."""
    too_slow = DownloadError(f"{url}: no answer within {timeout:.0f} s (a stalled or trickling server); nothing was "
                             "kept, try again")
    with _AnswerDeadline(timeout) as deadline:
        try:
            request = urllib.request.Request(_request_url(url), headers={"User-Agent": "resnet_det"})
            response = deadline.opener().open(request, timeout=timeout)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            if deadline.expired and not isinstance(e, urllib.error.HTTPError):
                raise too_slow from None
            raise
    if deadline.expired:  # cut off mid-headers, which http.client takes for their end
        response.close()
        raise too_slow
    return response


def fetch(url: str, timeout: float = 60.0, *, check: BodyCheck | None = None, min_rate: float = MIN_RATE,
          rate_window: float = RATE_WINDOW) -> Path:
    """The local copy of ``url``: the cached one if it passes its checks, else a fresh download.

    ``check(head, tail)`` says why a body is not the kind of file wanted (a cut-short archive),
    judged from its first and last bytes. An answer (headers) that takes ``timeout`` seconds, a
    read that waits as long, or a body slower than ``min_rate`` bytes/s over ``rate_window``
    seconds ends the download.
    """
    target = cached_path(url)
    expected = expected_sha256(url)
    if target.is_file():
        problem = _cached_problem(target, expected, check)
        if problem is None:
            logger.info("using %s (cached from %s)", target, url)
            return target
        logger.warning("the cached %s of %s fails its check (%s); downloading it again", target, url, problem)
        target.unlink(missing_ok=True)
    by_hand = f"without network access, download it elsewhere and put it at {target}"
    logger.info("downloading %s to %s", url, target)
    try:
        with _open(url, timeout) as response:
            if response.headers.get_content_type() == "text/html":
                raise DownloadError(f"{url} is a web page (text/html), not the file")
            atomic_write(target, lambda f: _copy_checked(response, url, expected, check, min_rate, rate_window, f))
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: the server answered {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"cannot download {url} ({e.reason}); {by_hand}") from None
    except http.client.HTTPException as e:
        raise DownloadError(f"{url}: the connection broke mid-download ({type(e).__name__}: {e}); "
                            "nothing was kept, try again") from None
    except (TimeoutError, ConnectionError) as e:
        raise DownloadError(f"cannot download {url} ({e or type(e).__name__}); {by_hand}") from None
    except UnicodeError as e:
        raise DownloadError(f"{url}: cannot be sent ({e})") from None
    except OSError as e:
        raise DownloadError(f"cannot write {target} ({e.strerror or e}); nothing was kept in the cache") from None
    logger.info("downloaded %s (%.1f MB)", target, target.stat().st_size / 1e6)
    return target
