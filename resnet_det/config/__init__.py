"""Configuration: detectron2-style ``CfgNode`` defaults, YAML files with ``_BASE_``, overrides."""
from __future__ import annotations

import difflib
import os
import re
from typing import Sequence

from fvcore.common.config import CfgNode

from resnet_det.config.defaults import _C


class ConfigError(KeyError):
    """A config names a key that does not exist (the message suggests the closest one)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def get_cfg() -> CfgNode:
    """A fresh copy of the defaults."""
    return _C.clone()


def _all_keys(node: CfgNode, prefix: str = "") -> list[str]:
    keys = []
    for key, value in node.items():
        keys.append(prefix + key)
        if isinstance(value, CfgNode):
            keys += _all_keys(value, f"{prefix}{key}.")
    return keys


def _unknown_key_error(error: Exception, source: str) -> ConfigError:
    match = re.search(r"Non-existent (?:config )?key: ([\w.]+)", str(error))
    key = match.group(1) if match else str(error)
    close = difflib.get_close_matches(key, _all_keys(_C), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ConfigError(f"{source}: unknown config key {key}{hint}")


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> CfgNode:
    """Defaults, then the YAML file at ``path`` (``_BASE_`` files first), then ``KEY VALUE`` pairs.

    YAML is read with a safe loader; an unknown key is a :class:`ConfigError` naming its source.
    """
    cfg = get_cfg()
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            cfg.merge_from_file(str(path), allow_unsafe=False)
        except KeyError as e:
            raise _unknown_key_error(e, str(path)) from None
    if len(overrides) % 2:
        raise ValueError(f"overrides must be KEY VALUE pairs, got an odd number: {list(overrides)}")
    try:
        cfg.merge_from_list(list(overrides))
    except (KeyError, AssertionError) as e:
        if "Non-existent" not in str(e):
            raise
        raise _unknown_key_error(e, "command-line override") from None
    cfg.freeze()
    return cfg


__all__ = ["CfgNode", "ConfigError", "get_cfg", "load_config"]
