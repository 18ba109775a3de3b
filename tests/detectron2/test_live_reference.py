"""Where detectron2 is importable: the recordings in ``tests/reference/detectron2/`` are what it
computes now, so the CI comparison (``test_recorded_reference.py``) cannot drift from it. A
recording that differs fails here; ``tools/record_detectron2_reference.py`` writes it again."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("detectron2.modeling", reason="detectron2 is not installed")

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "detectron2"
RECORDINGS = ("data_view", "evaluation", "inference", "mask_targets", "solver", "train_step")
# Regenerated on another CPU, floating-point results move in their last digits.
RTOL, ATOL = 1e-4, 1e-6


def _assert_close(fresh, committed, where: str = "") -> None:
    """Equal JSON trees: numbers within RTOL / ATOL (NaN equal to NaN), everything else exactly; a
    gradient record's values within RTOL of its norm (a projection is a sum of terms of both signs,
    whose last digits move with the order in which threads add them up)."""
    if isinstance(committed, dict) and "projections" in committed:
        norm = committed["norm"]
        assert fresh["numel"] == committed["numel"] and math.isclose(fresh["norm"], norm, rel_tol=RTOL), where
        for key in ("head", "projections"):
            assert np.abs(np.subtract(fresh[key], committed[key])).max() <= RTOL * norm, f"{where}.{key}"
    elif isinstance(committed, dict):
        assert isinstance(fresh, dict) and fresh.keys() == committed.keys(), where
        for key in committed:
            _assert_close(fresh[key], committed[key], f"{where}.{key}")
    elif isinstance(committed, list):
        assert isinstance(fresh, list) and len(fresh) == len(committed), where
        for i, (a, b) in enumerate(zip(fresh, committed)):
            _assert_close(a, b, f"{where}[{i}]")
    elif isinstance(committed, float) and isinstance(fresh, (int, float)):
        assert (math.isnan(fresh) and math.isnan(committed)) or math.isclose(fresh, committed, rel_tol=RTOL,
                                                                               abs_tol=ATOL), where
    else:
        assert fresh == committed, where


@pytest.mark.parametrize("name", RECORDINGS)
def test_recording_is_what_detectron2_computes(tool, shared_data, name):
    recorder = tool("record_detectron2_reference")
    fresh = json.loads(json.dumps(recorder.RECORDERS[name](shared_data)))
    _assert_close(fresh, json.loads((REFERENCE / f"{name}.json").read_text()), name)

