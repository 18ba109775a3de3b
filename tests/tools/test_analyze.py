import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_table1_prints_counts_beside_the_paper():
    out = subprocess.run([sys.executable, str(REPO / "tools/analyze.py"), "table1"], check=True,
                         capture_output=True, text=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("| ResNet-50 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == cells[2] == "25,557,032"
    assert abs(float(cells[3]) - 3.8) / 3.8 < 0.03
    assert re.search(r"\| ResNet-1202 \| 19\.\d+ M \| 19\.4 M \|", out)
