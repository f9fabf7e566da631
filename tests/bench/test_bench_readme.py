"""bench/README.md lists every bench script as its docstring says, and every kept
result file is one a page quotes.

Why: issue 77. The index is generated (benchkit/bench_readme.py), so it is only as
true as the last run of the generator: a moved, new or retired script, or a changed
`Runs:` / `Quoted:` line, fails here until it is run again. A `Quoted:` line must
point at a page and section that really name the script, and bench/quoted/ holds
exactly what pages quote (a default bench run writes only under bench/results/).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from benchkit.bench_readme import QUOTED, README, ROOT, entry, quoted_files, render, scripts


def test_the_readme_is_what_the_scripts_say() -> None:
    assert README.is_file(), "bench/README.md is missing: run `python -m benchkit.bench_readme`"
    assert README.read_text(encoding="utf-8") == render(), (
        "bench/README.md is stale: run `python -m benchkit.bench_readme`")


def test_every_script_is_listed_with_its_time_and_quote() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(scripts()) > 20
    for script in scripts():
        assert f"]({script.parent.name}/{script.name})" in text, f"{script.name} is not listed"
        assert entry(script).runs.startswith("~"), f"{script.name}: 'Runs: ~N min ...'"


def _section(page: Path, title: str) -> str:
    """The heading `title` of `page` and its text, to the next heading of its level."""
    lines = page.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.lstrip("#").strip() == title
              and line.startswith("#")]
    if not starts:
        return ""
    level = len(lines[starts[0]]) - len(lines[starts[0]].lstrip("#"))
    body = [lines[starts[0]]]
    for line in lines[starts[0] + 1:]:
        if line.startswith("#") and len(line) - len(line.lstrip("#")) <= level:
            break
        body.append(line)
    return "\n".join(body)


@pytest.mark.parametrize("script", scripts(), ids=lambda path: path.stem)
def test_a_quoted_result_is_where_the_script_says(script: Path) -> None:
    found = entry(script)
    if found.page is None:
        assert found.figure.startswith("none"), found
        return
    page = ROOT / found.page
    assert page.is_file(), f"{script.name}: Quoted: {found.page} does not exist"
    body = _section(page, found.section or "")
    assert body, f"{script.name}: {found.page} has no section {found.section!r}"
    assert re.search(rf"(?<![\w]){re.escape(script.name)}", body), (
        f"{script.name}: {found.page}, {found.section!r} does not name it")


def _pages_text() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")),
             *[p for p in sorted((ROOT / "bench").rglob("*.md")) if p != README]]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages if page.is_file())


def test_every_kept_result_file_is_quoted_by_a_page() -> None:
    text = _pages_text()
    unquoted = [name for name in quoted_files() if name not in text]
    assert not unquoted, f"bench/quoted/ files no page names (delete them): {unquoted}"


def test_results_are_kept_only_in_bench_quoted() -> None:
    """bench/results/ is git-ignored output: nothing there is tracked (issue 77 found
    127 files), and what is kept is in bench/quoted/ and listed in bench/README.md."""
    try:
        tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "bench/results"],
                                 capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git checkout to ask (a copied tree)")
    assert not tracked, f"tracked files under the ignored bench/results/: {tracked}"
    listed = set(re.findall(r"^- `([^`]+)`$", README.read_text(encoding="utf-8"), re.MULTILINE))
    assert listed == set(quoted_files()) and QUOTED.is_dir()
