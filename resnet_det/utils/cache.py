"""Where generated data and downloaded files are kept: ``$RESNET_DET_CACHE`` or ``~/.cache/resnet_det``."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("RESNET_DET_CACHE", Path.home() / ".cache" / "resnet_det")).expanduser()
