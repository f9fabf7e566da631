"""The shared memory of one face worker channel: a ring of image slots and a camera slot.

The worker draws each frame into the next image slot and answers with the slot's
number; the parent copies the image out before it asks for the next one. A
decoded camera frame goes the other way through the camera slot. Both sides of
the channel (avatar/live/face_worker.py, avatar/live/face_worker_main.py) map it.

A ring is named after the process that made it (`avf_ring_<pid>_<hex>`). A server
killed with its whole process group (a supervisor's SIGKILL after its stop timeout, a
test's kill) takes multiprocessing's resource tracker with it, and nothing frees its
rings: each stays in /dev/shm (RAM) until the machine restarts, and a kiosk that
restarts often fills it. The first ring a process makes therefore frees the rings of
makers no longer running (`sweep_orphaned_rings`).
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np

#: Image slots in the ring (one frame is in flight at a time; two keep a slot free).
RING_SLOTS = 2
#: The largest frame: 512 x 512 RGB.
SLOT_BYTES = 512 * 512 * 3
#: The camera slot: a decoded frame at most 320 px wide (ANALYSIS_WIDTH), up to 4:1 tall.
CAMERA_SLOT_BYTES = 320 * 1280 * 3
#: Where POSIX shared memory shows as files (Linux); elsewhere no sweep is made.
SHM_DIR = Path("/dev/shm")
#: A ring's name: its maker's pid, then a random part.
RING_NAME = re.compile(r"avf_ring_(\d+)_[0-9a-f]+")

_swept = threading.Event()


def ring_name(pid: int | None = None) -> str:
    """A new ring's name, naming its maker (this process unless `pid`)."""
    return f"avf_ring_{os.getpid() if pid is None else pid}_{secrets.token_hex(6)}"


def _running(pid: int) -> bool:
    """Whether process `pid` exists (another user's counts: it cannot be signalled)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphaned_rings(shm_dir: Path = SHM_DIR) -> list[str]:
    """Free the rings whose maker is no longer running; returns their names. A ring
    of a running process (this one's included) is never touched."""
    if not shm_dir.is_dir():
        return []
    freed = []
    for path in shm_dir.iterdir():
        match = RING_NAME.fullmatch(path.name)
        if match is None or _running(int(match.group(1))):
            continue
        try:
            path.unlink()
        except (FileNotFoundError, PermissionError):  # freed meanwhile, or not ours
            continue
        freed.append(path.name)
    return freed


class FrameRing:
    """The shared memory of one worker: RING_SLOTS image slots, then a camera slot."""

    def __init__(self, memory: SharedMemory, owner: bool) -> None:
        self.memory = memory
        self._owner = owner

    @classmethod
    def create(cls) -> FrameRing:
        """A new ring (the parent's side: it unlinks it when the worker is done); the
        process's first also frees the rings of killed makers (module docstring)."""
        if not _swept.is_set():
            _swept.set()
            sweep_orphaned_rings()
        size = RING_SLOTS * SLOT_BYTES + CAMERA_SLOT_BYTES
        return cls(SharedMemory(name=ring_name(), create=True, size=size), owner=True)

    @classmethod
    def attach(cls, name: str) -> FrameRing:
        """The ring the parent made (the worker's side)."""
        return cls(SharedMemory(name=name), owner=False)

    @property
    def name(self) -> str:
        return self.memory.name

    def slot(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        """Image slot `index` as an array of `shape` (a view: valid while the ring is open)."""
        return np.ndarray(shape, np.uint8, buffer=self.memory.buf, offset=index * SLOT_BYTES)

    def camera(self, shape: tuple[int, ...]) -> np.ndarray:
        """The camera slot as an array of `shape`."""
        return np.ndarray(shape, np.uint8, buffer=self.memory.buf,
                          offset=RING_SLOTS * SLOT_BYTES)

    def close(self) -> None:
        """Detach (and, on the parent's side, free) the memory; safe twice."""
        if self.memory is None:  # type: ignore[comparison-overlap]
            return
        memory, self.memory = self.memory, None  # type: ignore[assignment]
        memory.close()
        if self._owner:
            try:
                memory.unlink()
            except FileNotFoundError:
                pass


__all__ = ["CAMERA_SLOT_BYTES", "RING_SLOTS", "SLOT_BYTES", "FrameRing", "ring_name",
           "sweep_orphaned_rings"]
