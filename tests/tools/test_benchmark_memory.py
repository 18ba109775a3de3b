"""The memory benchmark runs end to end at a tiny scale and reports what BENCHMARKS.md quotes."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path, *args):
    out = tmp_path / "rows.json"
    done = subprocess.run([sys.executable, "tools/benchmark_memory.py", *args, "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, check=True)
    return done.stdout, json.loads(out.read_text())


def test_eval_rows_score_the_same_detections_alike(tmp_path):
    stdout, rows = _run(tmp_path, "eval", "--images", "3", "4", "--keep-masks-images", "3", "--no-trim-images")
    assert [(r["path"], r["images"]) for r in rows] == [("streaming", 3), ("streaming", 4), ("keep-masks", 3)]
    assert rows[0]["mask_AP"] == rows[2]["mask_AP"] > 0 and all(r["peak_rss_mb"] > 0 for r in rows)
    assert "KB per image; extrapolated to COCO val2017" in stdout


def test_annotation_rows_read_every_instance_in_every_worker(tmp_path):
    json_file = tmp_path / "synthetic.json"
    stdout, rows = _run(tmp_path, "annotations", "--scale", "0.0005", "--workers", "1", "2", "--json-file",
                        str(json_file))
    ours = [r for r in rows if r["loader"] == "ours"]
    assert [r["workers"] for r in ours] == [1, 2] and len(ours[1]["worker_pss_mb"]) == 2
    data = json.loads(json_file.read_text())
    assert len(data["images"]) == round(118_287 * 0.0005) and len(data["annotations"]) == round(860_001 * 0.0005)
    assert ours[0]["instances_read"] == sum(not a["iscrowd"] for a in data["annotations"])
    assert "the memory of 1" in stdout
