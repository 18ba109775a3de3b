"""COCO evaluation over two gloo processes: the metrics of one process, and only rank 0 receives records."""
import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("coco_eval_rank.py")


def _evaluate(processes: int, out: Path, data: Path) -> dict:
    out.mkdir()
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                    str(SCRIPT), str(out), str(data)], env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True,
                   capture_output=True)
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def test_two_processes_score_as_one_and_only_rank_0_receives(shared_data, tmp_path):
    data = shared_data / "coco_mini"
    one, two = _evaluate(1, tmp_path / "one", data), _evaluate(2, tmp_path / "two", data)
    assert two["metrics"] == one["metrics"]
    assert 20 < one["metrics"]["segm"]["AP"] < 100 and 20 < one["metrics"]["bbox"]["AP"] < 100
    rank0, rank1 = two["rank0"], two["rank1"]
    assert sorted(rank0["processed"] + rank1["processed"]) == sorted(one["rank0"]["processed"])
    assert rank1["received"] == []  # rank 1 never holds another rank's records
    # What the instrumentation sees where they do arrive (gather_object unpickles rank 0's own too).
    assert set(rank1["processed"]) <= set(rank0["received"])
