"""benchkit.revision_tree: the earlier revision a before-and-after bench runs beside ours."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchkit import revision_tree
from benchkit.paths import ROOT


def test_path_puts_the_tree_first_and_keeps_the_machines_own_folders(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A lent machine's extra site folder (wheels carried there) stays on the path,
    after the revision's packages and ours."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/tmp/site", "/tmp/shim"]))
    path = revision_tree.path_with(tmp_path)["PYTHONPATH"].split(os.pathsep)
    assert path == [str(tmp_path), str(ROOT), "/tmp/site", "/tmp/shim"]


def test_a_copied_tree_stands_in_where_git_cannot_resolve_the_revision(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine that got the working tree without its history finds the revision's
    packages in the folder that travelled, and gets today's benchkit beside them."""
    monkeypatch.setattr(revision_tree, "TREES", tmp_path)
    copied = tmp_path / "0123456789ab"
    (copied / "avatar").mkdir(parents=True)
    tree = revision_tree.baseline_tree("0123456789abcdef")
    assert tree == copied
    assert (tree / "benchkit").resolve() == (ROOT / "benchkit").resolve()


def test_a_revision_neither_in_git_nor_copied_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(revision_tree, "TREES", tmp_path)
    (tmp_path / "fedcba987654").mkdir()  # a folder without packages is no tree
    with pytest.raises(ValueError, match="not a commit"):
        revision_tree.baseline_tree("fedcba9876543")
    with pytest.raises(ValueError, match="not a commit"):
        revision_tree.baseline_tree("abc")  # too short to match a copy safely
