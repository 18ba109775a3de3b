"""Configuration: detectron2-style ``CfgNode`` defaults, YAML files with ``_BASE_``, overrides."""
from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from fvcore.common.config import CfgNode

from resnet_det.config.checks import check_choice, check_values, config_value
from resnet_det.config.defaults import _C
from resnet_det.config.files import ConfigFileError, ConfigValueError, read_config_file
from resnet_det.errors import UserError


class ConfigError(UserError, KeyError):
    """A config names a key that does not exist (the message suggests the closest one)."""


# The project's own configs, found by name from anywhere (a checkout or an editable install).
CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


def resolve_config(name: str | os.PathLike) -> Path:
    """``name`` if it is a file, else the project config it names: ``coco_r101``, ``coco_r101.yaml``,
    or a plugin config of ``configs/detectron2/`` (``mask_rcnn_R_50_C4_3x``)."""
    given = Path(name)
    if given.is_file():
        return given
    stems = [given] if given.suffix in (".yaml", ".yml") else [given, given.with_name(given.name + ".yaml")]
    for folder in (CONFIGS_DIR, CONFIGS_DIR / "detectron2"):
        for stem in stems:
            if (folder / stem).is_file():
                return folder / stem
    known = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml") if not p.stem.startswith("Base"))
    raise ConfigFileError(f"config file not found: {name} (not a file, nor a config of {CONFIGS_DIR}; "
                          f"the project's configs: {', '.join(known) or 'none found'})")


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


def _type_error(error: ValueError, source: str) -> ConfigValueError:
    match = re.search(r"Type mismatch \((.+?) vs\. (.+?)\) with values \((.*) vs\. (.*)\) for config key: ([\w.]+)",
                      str(error), re.S)
    if not match:
        return ConfigValueError(f"{source}: {error}")
    want, got, default, value, key = (re.sub(r"<class '(\w+)'>", r"\1", g) for g in match.groups())
    if "CfgNode" in want:
        return ConfigValueError(f"{source}: {key} is a group of keys, not a value; set one of its keys, e.g. "
                                f"{key}.{next(iter(config_value(_C, key)))}")
    return ConfigValueError(f"{source}: {key} must be {want} like its default {default}, got {value!r} ({got})")


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> CfgNode:
    """Defaults, then the YAML file at ``path`` (``_BASE_`` files first), then ``KEY VALUE`` pairs.

    YAML is read with a safe loader (a tag that would build a Python object is refused) and
    override values are parsed as literals, never evaluated. An unknown key is a
    :class:`ConfigError`, a value of the wrong type or range a :class:`ConfigValueError`, each
    naming its source.
    """
    cfg = get_cfg()
    if path is not None:
        path = resolve_config(path)
        try:
            cfg.merge_from_other_cfg(CfgNode(read_config_file(path)))
        except KeyError as e:
            raise _unknown_key_error(e, str(path)) from None
        except ValueError as e:
            raise _type_error(e, str(path)) from None
    if len(overrides) % 2:
        raise ConfigValueError(f"overrides must be KEY VALUE pairs, got an odd number: {list(overrides)}")
    try:
        cfg.merge_from_list(list(overrides))
    except (KeyError, AssertionError) as e:
        if "Non-existent" not in str(e):
            raise
        raise _unknown_key_error(e, "command-line override") from None
    except ValueError as e:
        raise _type_error(e, "command-line override") from None
    check_values(cfg)
    cfg.freeze()
    return cfg


__all__ = ["CfgNode", "ConfigError", "ConfigFileError", "ConfigValueError", "check_choice", "get_cfg", "load_config"]
