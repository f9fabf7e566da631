"""Stage the tree a wheel or sdist is built from: our packages under `avatar_forcing/`.

The staged tree is a plain setuptools project (its pyproject names
`setuptools.build_meta`, no in-tree backend), so its sdist builds a wheel by itself:

    avatar_forcing/__init__.py         the repository's facade (avatar_forcing/), the root
    avatar_forcing/agent/ ... fleet/   copies of the shipped packages, references rewritten
    pyproject.toml                     the repository's, with the layout's few lines changed
    README.md, LICENSE, CHANGELOG.md   as they are (LICENSE is the wheel's license file)
    MANIFEST.in                        as it is: puts CHANGELOG.md into the sdist

benchkit/, tests/, bench/ and examples/ are the repository's, not the library's:
they are not shipped.
"""

from __future__ import annotations

import copy
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

from avatar_forcing_build.rewrite import NAMESPACE, rewrite_module_string, rewrite_source

#: the packages the wheel ships, under NAMESPACE
SHIPPED = ("agent", "avatar", "pipelines", "sdk", "fleet")
#: files beside pyproject.toml that the build reads or the sdist carries
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
_TABLE = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+\s*(#.*)?$")
_ENTRY = re.compile(r'^(\s*[\w."-]+\s*=\s*")([^"]+)(".*)$', re.DOTALL)


def stage(root: Path, dest: Path) -> None:
    """Write the namespaced project of the repository at `root` into `dest` (empty)."""
    modules = module_names(root)
    package_root = dest / NAMESPACE
    shutil.copytree(root / NAMESPACE, package_root, ignore=_IGNORED)
    for name in SHIPPED:
        shutil.copytree(root / name, package_root / name, ignore=_IGNORED)
    for path in sorted(package_root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        path.write_text(rewrite_source(source, SHIPPED, modules, str(path.relative_to(dest))),
                        encoding="utf-8")
    for name in PROJECT_FILES:
        shutil.copy2(root / name, dest / name)
    pyproject = dest / "pyproject.toml"
    pyproject.write_text(staged_pyproject(pyproject.read_text(encoding="utf-8"), modules),
                         encoding="utf-8")


def module_names(root: Path) -> frozenset[str]:
    """Every dotted module and package name of ours (folders too: data packages)."""
    names = set()
    for package in SHIPPED:
        for path in [root / package, *(root / package).rglob("*")]:
            if "__pycache__" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            if path.is_dir() or path.suffix == ".py":
                names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return frozenset(names)


def staged_pyproject(text: str, modules: frozenset[str]) -> str:
    """The repository's pyproject.toml for the namespaced tree.

    Changed, line by line: the build backend (plain setuptools), the packages
    found (`avatar_forcing*`) and every entry point's `module:attr`. The result is
    parsed back and compared with the expected table, so a reformatted pyproject
    fails the build instead of shipping the repository's layout."""
    out, table = [], ""
    for line in text.splitlines(keepends=True):
        header = _TABLE.match(line)
        if header:
            table = header[1].replace(" ", "")
        elif table == "build-system" and line.startswith("backend-path"):
            continue
        elif table == "build-system" and line.startswith("build-backend"):
            line = 'build-backend = "setuptools.build_meta"\n'
        elif table == "tool.setuptools.packages.find" and line.startswith("include"):
            line = f'include = ["{NAMESPACE}*"]\n'
        elif _is_entry_table(table):
            entry = _ENTRY.match(line)
            if entry and (value := rewrite_module_string(entry[2], modules)):
                line = f"{entry[1]}{value}{entry[3]}"
        out.append(line)
    staged = "".join(out)
    expected = _expected(tomllib.loads(text), modules)
    if tomllib.loads(staged) != expected:
        raise ValueError("pyproject.toml: the namespaced copy is not what was expected; "
                         "keep [build-system], [tool.setuptools.packages.find] include and "
                         "the entry points one line each")
    return staged


def _expected(config: dict[str, Any], modules: frozenset[str]) -> dict[str, Any]:
    """The parsed pyproject as the staged one must read."""
    expected = copy.deepcopy(config)
    expected["build-system"].pop("backend-path", None)
    expected["build-system"]["build-backend"] = "setuptools.build_meta"
    expected["tool"]["setuptools"]["packages"]["find"]["include"] = [f"{NAMESPACE}*"]
    project = expected["project"]
    groups = [project.get("scripts", {}), project.get("gui-scripts", {}),
              *project.get("entry-points", {}).values()]
    for group in groups:
        for name, value in group.items():
            group[name] = rewrite_module_string(value, modules) or value
    return expected


def _is_entry_table(table: str) -> bool:
    return table in ("project.scripts", "project.gui-scripts") or table.startswith(
        "project.entry-points")
