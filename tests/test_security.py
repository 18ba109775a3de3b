"""No code path runs what a file or a config says: checked over the source of the package and tools."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*REPO.glob("resnet_det/**/*.py"), *REPO.glob("tools/*.py")])


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else kw.value
    return None


def problems(tree: ast.AST) -> list[str]:
    """Calls that can run code named by data."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name, line = _dotted(node.func), node.lineno
        if name in ("eval", "exec", "compile", "os.system", "os.popen", "pickle.load", "pickle.loads",
                    "yaml.load", "yaml.unsafe_load", "yaml.full_load", "marshal.loads", "shelve.open"):
            found.append(f"line {line}: {name}()")
        if _keyword(node, "shell") is True:
            found.append(f"line {line}: {name}(shell=True)")
        if name == "torch.load" and _keyword(node, "weights_only") is not True:
            found.append(f"line {line}: torch.load without weights_only=True")
        if name in ("np.load", "numpy.load") and _keyword(node, "allow_pickle") is True:
            found.append(f"line {line}: np.load(allow_pickle=True)")
    return found


@pytest.mark.parametrize("snippet,expected", [
    ("eval(cfg.X)", "eval()"),
    ("subprocess.run(cmd, shell=True)", "shell=True"),
    ("torch.load(path)", "weights_only"),
    ("torch.load(path, weights_only=False)", "weights_only"),
    ("yaml.load(text)", "yaml.load()"),
    ("pickle.loads(blob)", "pickle.loads()"),
    ("np.load(f, allow_pickle=True)", "allow_pickle"),
])
def test_the_checker_catches_each_pattern(snippet, expected):
    assert any(expected in p for p in problems(ast.parse(snippet)))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_source_file_runs_what_data_says(path):
    assert problems(ast.parse(path.read_text())) == []
