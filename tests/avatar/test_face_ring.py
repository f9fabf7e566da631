"""A face worker's shared-memory ring outlives a server killed with its process group;
the next server's first ring frees it, and never a running process's ring."""

from __future__ import annotations

import subprocess
import threading
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import pytest

from avatar.live import face_ring
from avatar.live.face_ring import SHM_DIR, FrameRing, ring_name, sweep_orphaned_rings

pytestmark = pytest.mark.skipif(not SHM_DIR.is_dir(), reason="no /dev/shm on this system")


def _ring_of_a_killed_server() -> Path:
    """A ring whose maker is gone and was never freed (what a server SIGKILLed with its
    process group, its resource tracker included, leaves): named for a process that has
    ended, and not known to this process's resource tracker."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    memory = SharedMemory(name=ring_name(ended.pid), create=True, size=4096)
    resource_tracker.unregister(memory._name, "shared_memory")  # type: ignore[attr-defined]
    memory.close()
    path = SHM_DIR / memory.name
    assert path.exists()
    return path


def test_a_killed_servers_ring_is_freed_and_a_running_ones_is_kept() -> None:
    mine = FrameRing.create()
    left = _ring_of_a_killed_server()
    name = mine.name
    try:
        freed = sweep_orphaned_rings()
        assert left.name in freed
        assert not left.exists()
        assert name not in freed
        assert (SHM_DIR / name).exists()
        mine.slot(0, (4, 4, 3))[:] = 7  # still mapped and usable
        assert int(mine.slot(0, (4, 4, 3)).sum()) == 7 * 48
    finally:
        mine.close()
    assert not (SHM_DIR / name).exists()


def test_the_first_ring_a_process_makes_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(face_ring, "_swept", threading.Event())  # as in a new process
    left = _ring_of_a_killed_server()
    FrameRing.create().close()
    assert not left.exists()
    second = _ring_of_a_killed_server()  # later rings of the process do not list /dev/shm
    FrameRing.create().close()
    assert second.exists()
    assert second.name in sweep_orphaned_rings()
