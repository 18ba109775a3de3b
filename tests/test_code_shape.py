"""The package's shape: neither its subpackages nor its modules import each other in a cycle, and in the
package and the tools no function runs past 50 lines and no block of 6 or more lines is written twice."""
import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "resnet_det"
TOOLS = PACKAGE.parent / "tools"
SOURCES = sorted(PACKAGE.rglob("*.py"))
CODE = SOURCES + sorted(TOOLS.glob("*.py"))
MAX_FUNCTION_LINES = 50
MIN_REPEATED_LINES = 6


def _unit(module: str) -> str:
    """The package-level unit a module belongs to: ``resnet_det.data.coco`` -> ``data``,
    ``resnet_det.weights`` -> ``weights``."""
    return module.split(".")[1] if module.count(".") else module


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (at module level, inside functions or for type
    checking alike): ``from a.b import c`` names ``a.b.c`` when that is a module, else ``a.b``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                         for a in node.names)
    return {name for name in found if name in modules}


def module_graph() -> dict[str, set[str]]:
    """Module -> the package's other modules it imports."""
    modules = {_module_name(path): path for path in SOURCES}
    return {name: _imported_modules(path, set(modules)) - {name} for name, path in modules.items()}


def import_graph() -> dict[str, set[str]]:
    """Unit (subpackage, or top-level module) -> the other units it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, targets in module_graph().items():
        for target in targets:
            if _unit(target) != _unit(source):
                graph[_unit(source)].add(_unit(target))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that starts and ends at the same node, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_no_import_cycle_between_subpackages():
    graph = import_graph()
    assert graph["engine"] >= {"data", "evaluation", "modeling", "utils"}  # the graph is really read
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_no_import_cycle_between_modules_inside_a_subpackage_either():
    graph = module_graph()
    assert "resnet_det.engine.train_loop" in graph["resnet_det.engine.trainer"]  # the graph is really read
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_no_function_over_50_lines():
    long = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in CODE for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of the lines that carry code: no blanks, comments, imports,
    docstrings or lone brackets, which repeat without being repeated logic."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skipped.update(range(node.lineno, node.end_lineno + 1))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            skipped.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        text = text.strip()
        if number not in skipped and text and not text.startswith("#") and text.strip("()[]{},:") != "":
            lines.append((number, text))
    return lines


def repeated_blocks(paths: list[Path], size: int) -> list[str]:
    """Places where ``size`` consecutive code lines stand again elsewhere, as ``a:line ~ b:line``."""
    seen: dict[tuple[str, ...], tuple[Path, int, int]] = {}
    found = []
    for path in paths:
        lines = _code_lines(path)
        for i in range(len(lines) - size + 1):
            window = tuple(text for _, text in lines[i:i + size])
            first, last = lines[i][0], lines[i + size - 1][0]
            if window not in seen:
                seen[window] = (path, first, last)
                continue
            other, other_first, other_last = seen[window]
            if other != path or other_last < first:  # not the same lines sliding over themselves
                found.append(f"{other.name}:{other_first} ~ {path.name}:{first}")
    return found


def test_the_repeat_finder_finds_repeats(tmp_path):
    body = "\n".join(f"    x{i} = f(x{i - 1})" for i in range(1, 7))
    (tmp_path / "a.py").write_text(f"def a(x0):\n{body}\n    return x6\n")
    (tmp_path / "b.py").write_text(f"def b(x0):\n    # same steps\n{body}\n    return x6 + 1\n")
    assert repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"], 6) == ["a.py:2 ~ b.py:3"]
    assert repeated_blocks([tmp_path / "a.py"], 6) == []


def test_no_block_of_six_lines_is_written_twice():
    repeats = repeated_blocks(CODE, MIN_REPEATED_LINES)
    assert not repeats, repeats
