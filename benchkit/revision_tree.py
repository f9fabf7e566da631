"""An earlier revision of the product beside this one, for before-and-after benches.

Why: issue 48 asks for every speed figure "in one run against today's renderer".
`baseline_tree(rev)` checks `rev` out as a git worktree under cache/face_cost_trees/,
so a bench can run its sessions with that revision's packages on the path
(PYTHONPATH=tree) and with this tree's, alternating, on the same machine at the
same time. The worktree's `benchkit/` is this tree's (a link): the tooling that
drives and times both sides is the same, only the product code differs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from benchkit.paths import ROOT

TREES = ROOT / "cache" / "face_cost_trees"


def baseline_tree(rev: str) -> Path:
    """A git worktree of `rev` (reused when already there), with today's benchkit.

    Raises:
        ValueError: `rev` names no commit of this repository.
    """
    try:
        found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet",
                                f"{rev}^{{commit}}"], capture_output=True, text=True,
                               check=False)
        resolved = found.returncode == 0
    except OSError:  # no git on this machine: only a copied tree will do
        resolved = False
    if not resolved:
        copied = _copied_tree(rev)
        if copied is None:
            raise ValueError(f"{rev!r} is not a commit of this repository ({ROOT})")
        commit = copied.name
    else:
        commit = found.stdout.strip()
    tree = TREES / commit[:12]
    if not (tree / "avatar").is_dir():
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--force", "--detach",
                        str(tree), commit], check=True, capture_output=True)
    tooling = tree / "benchkit"
    if not tooling.is_symlink():
        shutil.rmtree(tooling, ignore_errors=True)
        os.symlink(ROOT / "benchkit", tooling)
    return tree


def _copied_tree(rev: str) -> Path | None:
    """A tree of `rev` already under cache/face_cost_trees/ where git cannot resolve it.

    Why: a bench machine lent for one run gets a copy of the working tree without
    its git history; the earlier revision's packages travel as that folder."""
    if len(rev) < 7 or not TREES.is_dir():
        return None
    matches = [t for t in TREES.iterdir() if t.name.startswith(rev[:12]) and (t / "avatar").is_dir()]
    return matches[0] if len(matches) == 1 else None


def path_with(tree: Path) -> dict[str, str]:
    """This process's environment with `tree`'s packages first on the path, then this
    tree's, then whatever the path already held (a machine's own extra site folder)."""
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(ROOT), *extra])}
