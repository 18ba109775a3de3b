"""What every command-line tool does with a user error: one line naming it, exit status 1."""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable

from resnet_det.errors import UserError

Main = Callable[[list[str] | None], int]


class UsageError(UserError, ValueError):
    """A tool's arguments or inputs that do not fit together; the message says what to give instead."""


def positive_int(text: str) -> int:
    """An argparse type: a whole number above 0."""
    if not text.strip().isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def report_user_error(error: BaseException) -> None:
    """``<ErrorType>: <message>`` on stderr, through the run's log (and so ``log.txt``) where one is set up."""
    line = f"{type(error).__name__}: {error}"
    if any(getattr(h, "_resnet_det", False) for h in logging.getLogger().handlers):
        logging.getLogger("resnet_det").error("%s", line)
    else:
        print(line, file=sys.stderr)


def main_guard(main: Main) -> Main:
    """``main`` returning 1 after :func:`report_user_error` on a :class:`~resnet_det.errors.UserError` or
    an ``OSError`` (a path that cannot be read or written: the machine's answer, not a bug); any other
    exception is a bug and keeps its traceback."""
    @functools.wraps(main)
    def guarded(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except (UserError, OSError) as e:
            report_user_error(e)
            return 1
    return guarded
