"""The base of every error a user can act on: bad input, a missing file, a diverged run.

Each such error's message names what went wrong, where (a file, a config key, a URL) and what to
do, so the command-line tools print it alone, on one line, and exit with 1
(:func:`resnet_det.utils.cli.main_guard`). Any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations


class UserError(Exception):
    """An error in the user's input or machine whose message says all there is to say."""

    def __str__(self) -> str:  # KeyError subclasses would otherwise quote their message
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()
