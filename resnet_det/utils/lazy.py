"""A package face whose names are imported on first use (PEP 562), so that importing one module of a
package does not import all the others (and their OpenCV, pycocotools, ...)."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that gives each name of ``exports`` from its module (relative to
    ``package`` when it starts with a dot)."""
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)
    return __getattr__
