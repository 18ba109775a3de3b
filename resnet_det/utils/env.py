"""What a run was made with: the package versions and devices logged at its start."""
from __future__ import annotations

import platform
import sys
from importlib import metadata

import torch

_PACKAGES = ("resnet_det", "torch", "torchvision", "numpy", "pycocotools", "opencv-python-headless", "pillow")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment_info() -> list[str]:
    """One line each: Python and platform, the versions of the packages a run depends on (those
    installed), and the devices torch sees."""
    versions = ", ".join(f"{p} {v}" for p in _PACKAGES if (v := _version(p)) is not None)
    lines = [f"python {sys.version.split()[0]} on {platform.platform()}", versions]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            lines.append(f"cuda:{i} {props.name}, {props.total_memory / 2**30:.0f} GiB, "
                         f"capability {props.major}.{props.minor} (CUDA {torch.version.cuda})")
    else:
        lines.append(f"no CUDA device; {torch.get_num_threads()} CPU threads")
    return lines
