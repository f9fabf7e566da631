"""The "Tested with pipecat-ai X.Y" line (pipecat's guide for community integrations).

README.md and docs/PIPECAT.md each say which pipecat-ai minor the face is tested
with. That minor is the installed one (requirements.lock pins what `make setup`
installs and CI runs), and it lies within the range pyproject.toml declares, so
bumping pipecat without the docs, or the docs without the range, fails here.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PAGES = ("README.md", "docs/PIPECAT.md")
LINE = re.compile(r"^Tested with pipecat-ai (\d+)\.(\d+)\b", re.MULTILINE)


def _installed_minor() -> str:
    version = Version(importlib.metadata.version("pipecat-ai"))
    return f"{version.major}.{version.minor}"


def _declared_range() -> Requirement:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(r) for r in config["project"]["dependencies"]]
    pipecat = [r for r in requirements if r.name == "pipecat-ai"]
    assert len(pipecat) == 1, pipecat
    return pipecat[0]


@pytest.mark.parametrize("page", PAGES)
def test_the_page_names_the_tested_pipecat(page: str) -> None:
    found = LINE.findall((REPO / page).read_text(encoding="utf-8"))
    assert len(found) == 1, f"{page}: one line 'Tested with pipecat-ai X.Y', found {found}"
    tested = ".".join(found[0])
    assert tested == _installed_minor(), f"{page} says {tested}, installed {_installed_minor()}"
    declared = _declared_range()
    assert Version(tested) in declared.specifier, f"{page}: {tested} outside {declared}"
