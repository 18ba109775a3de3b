"""Where datasets live: ``DATASETS.ROOT``, else ``$RESNET_DET_DATASETS``, else detectron2's
``$DETECTRON2_DATASETS``, else ``./datasets``."""
from __future__ import annotations

import os
from pathlib import Path

from resnet_det.errors import UserError


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A dataset is not where it was looked for; the message names the places."""


class UnknownDatasetError(UserError, KeyError):
    """No dataset has this name; the message lists the known ones."""


def datasets_root(override: str | os.PathLike = "") -> Path:
    """The folder that holds the standard dataset layouts."""
    env = os.environ.get("RESNET_DET_DATASETS") or os.environ.get("DETECTRON2_DATASETS")
    return Path(override or env or "datasets").expanduser()
