from pathlib import Path

import pytest

from resnet_det.data.datasets.paths import datasets_root


@pytest.mark.parametrize("ours, detectron2s, override, expected", [
    ("/ours", "/d2", "", "/ours"), (None, "/d2", "", "/d2"), (None, None, "", "datasets"),
    ("/ours", "/d2", "/config", "/config")])
def test_the_datasets_root_is_found_as_documented(ours, detectron2s, override, expected, monkeypatch):
    for name, value in (("RESNET_DET_DATASETS", ours), ("DETECTRON2_DATASETS", detectron2s)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert datasets_root(override) == Path(expected)
