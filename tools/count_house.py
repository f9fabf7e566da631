"""Print, as JSON, a few counts of how tidy the repository is.

- the largest product module and its lines;
- "issue N" strings in product code (lines matching, as `grep -E` counts them);
- lines in product code that point at bench scripts or results (`bench/`);
- class names defined in more than one product module (read with `ast`);
- the bytes in the working tree of git's tracked files under docs/ and bench/results/.

Product code is the packages a user installs: agent, avatar, pipelines, sdk, fleet
and avatar_forcing. Run from anywhere: `python tools/count_house.py`.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("agent", "avatar", "pipelines", "sdk", "fleet", "avatar_forcing")
ISSUE_REF = re.compile(r"[Ii]ssues? ?#?[0-9]+")
BENCH_REF = "bench/"
TRACKED_DIRS = ("docs", "bench/results")


def product_files() -> list[Path]:
    """Every Python file of the product packages, sorted."""
    return sorted(path for package in PRODUCT for path in (ROOT / package).rglob("*.py"))


def tracked_bytes(dirs: tuple[str, ...]) -> int:
    """Bytes on disk of the files git tracks under `dirs` (a deleted file counts 0)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--", *dirs], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode()
    paths = (ROOT / name for name in listed.split("\0") if name)
    return sum(path.stat().st_size for path in paths if path.is_file())


def count() -> dict[str, object]:
    """The counts, keyed as printed."""
    largest = ("", 0)
    issue_lines = bench_lines = 0
    issue_files: set[str] = set()
    classes: dict[str, list[str]] = defaultdict(list)
    for path in product_files():
        name = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if len(lines) > largest[1]:
            largest = (name, len(lines))
        hits = sum(1 for line in lines if ISSUE_REF.search(line))
        issue_lines += hits
        if hits:
            issue_files.add(name)
        bench_lines += sum(1 for line in lines if BENCH_REF in line)
        for node in ast.walk(ast.parse(text, filename=name)):
            if isinstance(node, ast.ClassDef):
                classes[node.name].append(name)
    duplicates = {cls: sorted(set(where)) for cls, where in sorted(classes.items())
                  if len(set(where)) > 1}
    return {
        "largest_product_file": {"path": largest[0], "lines": largest[1]},
        "issue_refs_in_product": {"lines": issue_lines, "files": len(issue_files)},
        "bench_refs_in_product": bench_lines,
        "duplicate_class_names": duplicates,
        "docs_and_bench_results_bytes": tracked_bytes(TRACKED_DIRS),
    }


if __name__ == "__main__":
    print(json.dumps(count(), indent=2))
