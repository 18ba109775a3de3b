"""The documentation names what checks it: every test docs/reliability.md cites exists, and the README's
test command is the one CI runs."""
import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _test_names(path: Path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)}


def cited_tests(markdown: str) -> list[tuple[str, str]]:
    """``(test file, test name)`` of each test a table cell cites: ``file.py::name[...]``, and bare
    ``name`` after it in the same cell, which means the same file (or the file a section names as
    its default: "`file.py` unless the row says otherwise")."""
    cited, default = [], None
    for row in markdown.splitlines():
        if match := re.search(r"`([\w/]+\.py)` unless the row says otherwise", row):
            default = match[1]
        if row.startswith("#"):
            default = None if not match else default
        if not row.startswith("|"):
            continue
        for cell in row.split("|"):
            current = default
            for file, name in re.findall(r"`(?:([\w/]+\.py)::)?(test_\w+)", cell):
                current = file or current
                if current:
                    cited.append((current, name))
    return cited


def test_every_test_the_reliability_page_cites_exists():
    cited = cited_tests((REPO / "docs" / "reliability.md").read_text())
    assert len(cited) > 90 and any(file == "data/decode/test_files.py" for file, _ in cited)  # really read
    missing = [f"{file}::{name}" for file, name in cited
               if not (REPO / "tests" / file).is_file() or name not in _test_names(REPO / "tests" / file)]
    assert not missing, missing


def test_the_readme_test_command_is_the_one_ci_runs():
    readme, ci = (REPO / "README.md").read_text(), (REPO / ".ci" / "run").read_text()
    command = "python -m pytest -q tests"
    assert command in readme and ci.strip().splitlines()[-1] == command


def test_the_reliability_page_counts_the_range_checked_keys():
    import re

    from resnet_det.config.checks import VALUE_CHECKS
    page = (REPO / "docs" / "reliability.md").read_text()
    counts = {int(n) for n in re.findall(r"(\d+) keys are range-checked", page)}
    assert counts == {len(VALUE_CHECKS)}
