"""What differs between two configs written as YAML (a checkpoint's and the current run's)."""
from __future__ import annotations

from typing import Any

import yaml

# Keys that say where a run is, not what it trains; a resumed run may move them.
_WHEREABOUTS = ("OUTPUT_DIR", "MODEL.WEIGHTS", "MODEL.DEVICE", "DATASETS.ROOT", "DATALOADER.NUM_WORKERS")


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    return {k: v for key, value in node.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}


def config_differences(before: str, after: str) -> dict[str, tuple[Any, Any]]:
    """``{key: (value before, value after)}`` for every key whose value differs, in sorted order,
    leaving out the keys that only say where a run is (output folder, device, data root)."""
    try:
        old, new = _flatten(yaml.safe_load(before)), _flatten(yaml.safe_load(after))
    except yaml.YAMLError:
        return {}
    return {k: (old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys())
            if old.get(k) != new.get(k) and k not in _WHEREABOUTS}
