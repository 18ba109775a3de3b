"""Progress lines in a batch job's log: how far, how fast, how long still; only from the main process."""
import logging

import pytest

from resnet_det.utils.progress import track


def test_lines_say_how_far_and_how_long_still(caplog):
    with caplog.at_level(logging.INFO):
        assert list(track(range(3), "evaluating x", unit="batches", interval=0, bar=False)) == [0, 1, 2]
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(": ")[1].split(" in ")[0] for line in lines] == ["1/3 batches", "2/3 batches",
                                                                          "3/3 batches", "3/3 batches"]
    assert "eta " in lines[0] and "eta" not in lines[-1] and "s each" in lines[-1]


def test_without_a_length_there_is_no_eta(caplog):
    with caplog.at_level(logging.INFO):
        list(track(iter("ab"), "reading", interval=0, bar=False))
    assert caplog.records[0].getMessage().startswith("reading: 1/? items") and "eta" not in caplog.text


@pytest.mark.parametrize("bar", [True, False])
def test_other_ranks_stay_quiet(bar, caplog, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    with caplog.at_level(logging.INFO):
        assert list(track(range(2), "x", interval=0, bar=bar)) == [0, 1]
    assert not caplog.records and not capsys.readouterr().err
