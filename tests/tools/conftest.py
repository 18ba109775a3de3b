"""The command-line tools, imported from ``tools/`` so their ``main`` runs in the test process."""
import importlib.util
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture(scope="session")
def tool():
    """``tool(name)``: the module ``tools/<name>.py``."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"tools_{name}", TOOLS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
