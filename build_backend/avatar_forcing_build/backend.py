"""PEP 517 / PEP 660 hooks: setuptools, on the tree each kind of build needs.

- wheel, sdist (and the wheel's metadata): built from the staged copy
  (`stage.stage`), where every shipped package sits under `avatar_forcing/` and
  its references are rewritten, so `pip install avatar-forcing` adds one
  top-level name to someone else's environment;
- editable (`pip install -e .`, what `make setup` does): the repository as it
  is, packages at the top, so `from pipelines import ...` keeps working here.

Frontends call each hook in a fresh process with the project root as the
working directory (PEP 517); the staged copy lives in a temporary directory
for the length of one hook.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools

from avatar_forcing_build.stage import stage

ConfigSettings = Mapping[str, Any] | None

# The repository's own layout: setuptools as it is.
build_editable = _setuptools.build_editable
get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
# What setuptools needs to build (nothing beyond itself); the same for both trees.
get_requires_for_build_wheel = _setuptools.get_requires_for_build_wheel
get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist


def build_wheel(wheel_directory: str, config_settings: ConfigSettings = None,
                metadata_directory: str | None = None) -> str:
    """Build the namespaced wheel into `wheel_directory`; returns its file name."""
    out = os.path.abspath(wheel_directory)
    with _in_staged_tree():
        return str(_setuptools.build_wheel(out, config_settings))


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    """Build the namespaced sdist (a plain setuptools project) into `sdist_directory`."""
    out = os.path.abspath(sdist_directory)
    with _in_staged_tree():
        return str(_setuptools.build_sdist(out, config_settings))


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: ConfigSettings = None) -> str:
    """The wheel's .dist-info (its entry points name `avatar_forcing.` modules)."""
    out = os.path.abspath(metadata_directory)
    with _in_staged_tree():
        return str(_setuptools.prepare_metadata_for_build_wheel(out, config_settings))


@contextlib.contextmanager
def _in_staged_tree() -> Iterator[Path]:
    """Stage the project found in the working directory and work inside the copy."""
    root = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="avatar-forcing-stage-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        stage(root, tree)
        os.chdir(tree)
        try:
            yield tree
        finally:
            os.chdir(root)
