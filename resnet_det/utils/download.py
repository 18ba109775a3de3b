"""Files by URL, downloaded once into the cache: written atomically, checked, and with errors that
say what went wrong and, offline, where to put the file by hand.

A checksum is checked where the URL carries one: torch.hub's ``name-<sha256 prefix>.ext`` file
names (torchvision's weights), or a ``#sha256=<hex>`` fragment a user adds.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from resnet_det.utils.atomic import atomic_write
from resnet_det.utils.cache import cache_dir

logger = logging.getLogger(__name__)
_HUB_HASH = re.compile(r"-([a-f0-9]{8,64})\.[A-Za-z0-9]+$")
_FRAGMENT_HASH = re.compile(r"^sha256=([a-f0-9]{8,64})$")
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A file could not be downloaded or failed its checks; nothing of it was kept in the cache."""


def cached_path(url: str) -> Path:
    """Where the cache keeps ``url``'s file: ``<cache>/downloads/<host>/<path>``."""
    parts = urlsplit(url)
    return cache_dir() / "downloads" / parts.netloc / parts.path.lstrip("/")


def expected_sha256(url: str) -> str | None:
    """The sha256 (or its prefix) the URL promises, if it names one."""
    parts = urlsplit(url)
    if m := _FRAGMENT_HASH.match(parts.fragment):
        return m[1]
    m = _HUB_HASH.search(parts.path)
    return m[1] if m else None


def _copy_checked(response: http.client.HTTPResponse, url: str, expected: str | None, f: BinaryIO) -> None:
    digest, size = hashlib.sha256(), 0
    length = response.headers.get("Content-Length")
    while chunk := response.read(_CHUNK):
        if size == 0 and chunk.lstrip()[:1] == b"<" and b"html" in chunk[:512].lower():
            raise DownloadError(f"{url} sent a web page, not a weights file (a login, error or redirect page?)")
        f.write(chunk)
        digest.update(chunk)
        size += len(chunk)
    if length is not None and size != int(length):
        raise DownloadError(f"{url}: the download stopped after {size} of {length} bytes")
    if expected and not digest.hexdigest().startswith(expected):
        raise DownloadError(f"{url}: the file's sha256 is {digest.hexdigest()}, not the {expected}... its URL promises")


def fetch(url: str, timeout: float = 60.0) -> Path:
    """The local copy of ``url``: the cached one, else a fresh download into the cache."""
    target = cached_path(url)
    if target.is_file():
        logger.info("using %s (cached from %s)", target, url)
        return target
    by_hand = f"without network access, download it elsewhere and put it at {target}"
    logger.info("downloading %s to %s", url, target)
    try:
        request = urllib.request.Request(urlsplit(url)._replace(fragment="").geturl(),
                                         headers={"User-Agent": "resnet_det"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if response.headers.get_content_type() == "text/html":
                raise DownloadError(f"{url} is a web page (text/html), not a weights file")
            atomic_write(target, lambda f: _copy_checked(response, url, expected_sha256(url), f))
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: the server answered {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"cannot download {url} ({e.reason}); {by_hand}") from None
    except http.client.IncompleteRead as e:
        raise DownloadError(f"{url}: the connection closed after {len(e.partial)} bytes of the file; "
                            "nothing was kept, try again") from None
    except (TimeoutError, ConnectionError) as e:
        raise DownloadError(f"cannot download {url} ({e}); {by_hand}") from None
    except OSError as e:
        raise DownloadError(f"cannot write {target} ({e.strerror or e}); nothing was kept in the cache") from None
    logger.info("downloaded %s (%.1f MB)", target, target.stat().st_size / 1e6)
    return target
