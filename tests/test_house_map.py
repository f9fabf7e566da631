"""The maps of the house name every room: README.md's folder table and CONTRIBUTING.md's
layout table each name every folder a newcomer meets (issue 77).

What counts, read from git's index when the test runs (the tracked files), so a folder
added later fails here until the maps name it:
- every top-level folder (hidden ones like .ci/ aside);
- every folder one level below (avatar/live/, pipelines/offline/, bench/face/, ...),
  except under tests/ and docs/, which mirror the others or hold pages and pictures;
- deeper, every folder that holds code: a Python package or a folder of Python or
  JavaScript files (pipelines/wire/webrtc/, pipelines/web/gl/, ...), except under
  bench/, tests/ and docs/ (bench/README.md lists its scripts).
A map names a folder by its path with a trailing slash, e.g. `pipelines/wire/webrtc/`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPS = ("README.md", "CONTRIBUTING.md")
#: below these, only the folder itself and its first level count
NOT_DEEPER = ("tests", "docs", "bench")
#: below these, not even the first level
NOT_BELOW = ("tests", "docs")
CODE_SUFFIXES = {".py", ".js", ".ts"}
#: a folder as the tables name it: `path/` (backticked, a trailing slash)
FOLDER = re.compile(r"`([A-Za-z0-9_][\w./-]*/)`")


def _files() -> list[PurePosixPath]:
    """The tracked files that are there, relative to the root."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("SKIPPED LOUDLY: needs git and a checkout to read the tree")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "-z"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    return [PurePosixPath(name) for name in listed if name and (ROOT / name).exists()]


def folders(files: list[PurePosixPath]) -> set[str]:
    """The folders the maps must name (module docstring), as `path/`."""
    found: set[str] = set()
    for file in files:
        parts = file.parts[:-1]
        if not parts or parts[0].startswith("."):
            continue
        top = parts[0]
        found.add(f"{top}/")
        if len(parts) >= 2 and top not in NOT_BELOW:
            found.add(f"{top}/{parts[1]}/")
        if len(parts) >= 3 and top not in NOT_DEEPER and file.suffix in CODE_SUFFIXES:
            found.add("/".join(parts) + "/")
    return found


def test_the_rule_picks_folders_as_documented() -> None:
    files = [PurePosixPath(p) for p in (
        "avatar/live/session.py", "pipelines/wire/webrtc/tracks.py", "pipelines/web/gl/face.js",
        "examples/voice_assistant/portraits/ada.jpg", "tests/pipelines/deep/test_x.py",
        "bench/fleet/lent_machine/shim/av/__init__.py", "docs/memory/x.txt", ".ci/run", "README.md")]
    assert folders(files) == {
        "avatar/", "avatar/live/", "pipelines/", "pipelines/wire/", "pipelines/wire/webrtc/",
        "pipelines/web/", "pipelines/web/gl/", "examples/", "examples/voice_assistant/",
        "tests/", "bench/", "bench/fleet/", "docs/"}


@pytest.mark.parametrize("page", MAPS)
def test_the_map_names_every_folder(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    wanted = folders(_files())
    assert len(wanted) > 20, f"too few folders found: {sorted(wanted)}"
    missing = sorted(folder for folder in wanted if f"`{folder}" not in text)
    assert not missing, (f"{page} does not name {missing}: add each to its folder table "
                         "(as `path/`, with what it holds)")


@pytest.mark.parametrize("page", MAPS)
def test_the_map_names_no_folder_that_is_gone(page: str) -> None:
    # the folder tables name folders by their whole path, so each can be checked
    rows = [line for line in (ROOT / page).read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")]
    named = {name for row in rows for name in FOLDER.findall(row)}
    gone = sorted(name for name in named if not (ROOT / name).is_dir())
    assert not gone, f"{page}'s folder table names folders that are not there: {gone}"


#: the benches a newcomer reads through bench/README.md: at most this many scripts (helpers
#: they share live in benchkit/, maintenance commands in scripts/)
MOST_BENCH_SCRIPTS = 50


def test_bench_holds_its_benches_only() -> None:
    scripts = [f for f in _files() if f.parts[0] == "bench" and f.suffix == ".py"]
    assert len(scripts) <= MOST_BENCH_SCRIPTS, (
        f"bench/ holds {len(scripts)} Python files (at most {MOST_BENCH_SCRIPTS}): move helpers "
        "to benchkit/ and commands to scripts/")
