"""Settings dataclasses whose defaults are the config's: each field names its config key once, its
default is that key's value in :mod:`resnet_det.config.defaults`, and ``from_config`` reads every
field from its key. A default is then written in one place only, and a dataclass cannot drift from
the YAML defaults.

    @dataclass(frozen=True)
    class RPNConfig(FromConfig):
        batch_size_per_image: int = keyed("MODEL.RPN.BATCH_SIZE_PER_IMAGE")
        anchor_sizes: tuple[float, ...] = keyed("MODEL.ANCHOR_GENERATOR.SIZES", lambda v: tuple(v[0]))
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from fvcore.common.config import CfgNode

from resnet_det.config.checks import config_value
from resnet_det.config.defaults import _C

T = TypeVar("T", bound="FromConfig")


def _as_is(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def keyed(key: str, convert: Callable[[Any], Any] = _as_is) -> Any:
    """A dataclass field read from the config key ``key`` (through ``convert``), whose default is
    that key's default."""
    return dataclasses.field(default=convert(config_value(_C, key)), metadata={"key": key, "convert": convert})


class FromConfig:
    """A dataclass of :func:`keyed` fields; ``from_config`` reads them all from a config."""

    @classmethod
    def from_config(cls: type[T], cfg: CfgNode) -> T:
        values = {f.name: f.metadata["convert"](config_value(cfg, f.metadata["key"]))
                  for f in dataclasses.fields(cls) if "key" in f.metadata}  # type: ignore[arg-type]
        return cls(**values)
