"""Every bench script still imports, and says what it measures.

Why: bench/ scripts run by hand, so a moved or renamed module breaks them silently
until someone wants a figure (issue 24's "every bench that is kept still runs").
This imports each one as a module (its `main` is not run) in this one process.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.scripts import load_script

BENCH = Path(__file__).resolve().parents[2] / "bench"
#: every script, in its area folder (bench/<area>/<name>.py); the lent machine's
#: shim (bench/fleet/lent_machine/shim/) is an import stand-in, not a bench
SCRIPTS = sorted(path for path in BENCH.glob("*/*.py"))


def test_there_are_bench_scripts() -> None:
    assert len(SCRIPTS) > 20


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_bench_script_imports_and_has_a_docstring(script: Path) -> None:
    module = load_script(script, f"_bench_{script.stem}")
    assert (module.__doc__ or "").strip(), f"{script.name} has no docstring saying what it measures"
    # issue 24: the first line names the figure (or file) it produces, or says "none"
    assert module.__doc__.startswith("Figure: "), (
        f"{script.name}'s docstring does not start with 'Figure: ' and what it produces")
    runs = callable(getattr(module, "main", None)) or '__name__ == "__main__"' in script.read_text()
    assert runs, f"{script.name} has nothing to run"


#: The other bench scripts as importable names (`import live`, `from bench.live import ...`).
BENCH_NAMES = {path.stem for path in SCRIPTS}


def _imported_modules(script: Path) -> list[str]:
    """Every module a script imports, at any depth (inside functions too)."""
    import ast

    names: list[str] = []
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            if node.module == "bench":  # `from bench import live`
                names += [f"bench.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_bench_script_imports_only_packages(script: Path) -> None:
    """Why: issue 24. Shared code lives in benchkit/ (installed with the project), so a
    script neither edits sys.path nor imports another script or the tests."""
    assert "sys.path" not in script.read_text(), f"{script.name} edits sys.path"
    for module in _imported_modules(script):
        top = module.split(".")[0]
        assert top != "tests", f"{script.name} imports {module}: move it into benchkit/"
        assert top != "bench" and top not in BENCH_NAMES, (
            f"{script.name} imports the bench script {module}: move it into benchkit/")


def test_density_runs_on_its_own_defaults() -> None:
    """bench/live/density.py with no flags houses the sessions as the product does and has
    something to run (it exited on its defaults when a worker of one face was dropped
    as having nothing to batch)."""
    from pipelines.settings import AvatarSettings

    density = load_script(BENCH / "live" / "density.py", "_bench_density_defaults")
    product = AvatarSettings().faces_per_worker
    assert density.product_faces_per_worker() == product
    assert density.housings([product], [True]) == [(product, product > 1)]
    # several housings and both batch modes: one face runs once, three both ways
    assert density.housings([1, 3], [False, True]) == [(1, False), (3, False), (3, True)]


def test_every_bench_script_a_page_names_is_there_or_retired() -> None:
    """Why: issue 77 retired one-off experiments to docs/history/retired_bench.md; a page
    that still quotes one (the figure stays true of its commit) must find it there."""
    import re

    root = BENCH.parent
    retired = set(re.findall(r"^### (\w+\.py) ", (root / "docs" / "history" / "retired_bench.md")
                             .read_text(encoding="utf-8"), re.MULTILINE))
    pages = [root / "README.md", root / "CONTRIBUTING.md", *sorted((root / "docs").glob("*.md"))]
    missing = sorted({(page.name, path) for page in pages if page.is_file()
                      for path in re.findall(r"bench/\w+/\w+\.py", page.read_text(encoding="utf-8"))
                      if not (root / path).is_file() and path.rsplit("/", 1)[1] not in retired})
    assert not missing, f"pages name bench scripts that are neither there nor retired: {missing}"
