"""No import circle in benchkit/ or bench/: no module imports one that imports it back,
at any depth, counting imports inside functions and those for type checking only.

Why: issue 77 found one (live_client <-> quality_log, closed by an import inside a
function), which import-linter's contracts did not see: a module's imports must show
which way it depends. The bench scripts import no other script
(test_bench_scripts.py), so only benchkit's modules can close a circle, and the
scripts are read too so that a script-level import of a benchkit module is checked
with the rest. The pyproject's import-linter contract "benchkit/ has no import
circles" checks the same between sibling packages.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The benchkit modules `path` imports (a `from package import module` counts the
    module), anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    """Module -> the benchkit modules it imports, for benchkit/ and the bench scripts."""
    modules = {_module_name(p): p for p in sorted((ROOT / "benchkit").rglob("*.py"))}
    scripts = {f"bench:{p.relative_to(ROOT)}": p for p in sorted((ROOT / "bench").glob("*/*.py"))}
    known = set(modules)
    return {name: _imports(path, known) - {name} for name, path in {**modules, **scripts}.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(graph.get(node, ())):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_finds_one() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_benchkit_and_bench_have_no_import_circles() -> None:
    graph = import_graph()
    assert len(graph) > 50 and any(graph.values())
    assert circles(graph) == [], "import circles in benchkit/ and bench/"
