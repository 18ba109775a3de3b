"""A run's output folder: checked writable at start-up, and held by one training run at a time.

The hold is an advisory lock (``flock``) on ``OUTPUT_DIR/run.lock``, whose text names the holder's
host and pid. The kernel releases it when the holder's process ends, however it ends (``kill -9``
included), so the next run takes over a folder whose holder is gone without anyone deleting a stale
file, while a second run started beside a live one stops at once instead of deleting the first
run's temporary files and writing over its checkpoints.
"""
from __future__ import annotations

import datetime
import errno
import fcntl
import logging
import os
import socket
from pathlib import Path

from resnet_det.errors import UserError

logger = logging.getLogger(__name__)
LOCK_FILE = "run.lock"


class OutputDirError(UserError, OSError):
    """OUTPUT_DIR cannot be written, or another live run holds it."""


def check_writable(directory: str | os.PathLike, name: str = "OUTPUT_DIR") -> Path:
    """Create ``directory`` if needed and prove a file can be written in it; else :class:`OutputDirError`
    naming it as ``name``."""
    directory = Path(directory)
    probe = directory / f".write_test.{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputDirError(f"{name} {directory} is not writable ({e.strerror or e}); give a folder this user "
                             "can write") from None
    return directory


class OutputDirLock:
    """``with OutputDirLock(folder):`` holds ``folder/run.lock`` for this process, or raises
    :class:`OutputDirError` naming the live holder."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.path = Path(directory) / LOCK_FILE
        self._fd: int | None = None

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip() or "a process that has not yet written its name"
        except OSError:
            return "an unknown process"

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):  # a filesystem without locks
                logger.warning("cannot lock %s (%s); nothing stops a second run in this folder", self.path, e)
                return
            raise OutputDirError(f"OUTPUT_DIR {self.path.parent} is in use by a live training run ({self._holder()}); "
                                 "wait for it to end, or give this run another OUTPUT_DIR") from None
        previous = os.read(fd, 4096).decode(errors="replace").strip()
        if previous:
            logger.info("taking over %s from a run that is gone (%s)", self.path, previous)
        me = f"host {socket.gethostname()}, pid {os.getpid()}, since {datetime.datetime.now():%Y-%m-%d %H:%M:%S}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        # The file stays: unlinking it could let a run that opened it a moment before lock an
        # orphaned inode while a third locks a new one.
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
