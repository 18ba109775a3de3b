"""Reading a YAML config file and the ``_BASE_`` files it inherits from, safely.

A safe YAML loader (a tag that would build a Python object is refused); every file must be a
mapping; a ``_BASE_`` is a file path (relative to the file that names it, ``~`` expanded), never a
URL; a chain of bases that comes back to a file is refused. Each error names the file it is about.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from resnet_det.errors import UserError

BASE_KEY = "_BASE_"


class ConfigFileError(UserError, FileNotFoundError):
    """A config file, or a ``_BASE_`` file one names, was not found."""


class ConfigValueError(UserError, ValueError):
    """A config value of the wrong type or out of range; the message names the key and its source."""


def _named_by(chain: tuple[Path, ...]) -> str:
    return f" (the _BASE_ of {chain[-1]})" if chain else ""


def _parse(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if chain:
            raise ConfigFileError(f"{chain[-1]}: its _BASE_ config {path} was not found") from None
        raise ConfigFileError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigValueError(f"{path}{_named_by(chain)}: cannot be read as text ({e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as e:
        raise ConfigValueError(f"{path}: refused: a YAML tag that builds Python objects ({e.problem})") from None
    except yaml.YAMLError as e:
        raise ConfigValueError(f"{path}{_named_by(chain)}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigValueError(f"{path}{_named_by(chain)}: not a mapping of config keys "
                               f"(found {'nothing' if data is None else type(data).__name__})")
    return data


def _merge_into(source: dict[str, Any], target: dict[str, Any], path: Path, prefix: str = "") -> None:
    """``source``'s values over ``target``'s, nested mappings merged key by key."""
    for key, value in source.items():
        if isinstance(value, dict) and key in target:
            if not isinstance(target[key], dict):
                raise ConfigValueError(f"{path}: {prefix}{key} is a group of keys here but a value in its _BASE_")
            _merge_into(value, target[key], path, f"{prefix}{key}.")
        else:
            target[key] = value


def _base_path(base: Any, path: Path) -> Path:
    if not isinstance(base, str) or not base:
        raise ConfigValueError(f"{path}: _BASE_ must be a file name or a list of them, got {base!r}")
    if base.startswith(("http://", "https://")):
        raise ConfigValueError(f"{path}: _BASE_ {base} is a URL; a base config must be a local file")
    given = Path(base).expanduser()
    return given if given.is_absolute() else path.parent / given


def read_config_file(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping in ``path`` with its ``_BASE_`` files' values under its own; ``chain`` is the
    files that led here (each names the next as its base)."""
    if path.resolve() in {p.resolve() for p in chain}:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ConfigValueError(f"{chain[0]}: its _BASE_ files form a cycle: {cycle}")
    data = _parse(path, chain)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    merged: dict[str, Any] = {}
    for base in bases if isinstance(bases, list) else [bases]:
        _merge_into(read_config_file(_base_path(base, path), (*chain, path)), merged, path)
    _merge_into(data, merged, path)
    return merged
