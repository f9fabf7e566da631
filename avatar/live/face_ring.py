"""The shared memory of one face worker channel: a ring of image slots and a camera slot.

The worker draws each frame into the next image slot and answers with the slot's
number; the parent copies the image out before it asks for the next one. A
decoded camera frame goes the other way through the camera slot. Both sides of
the channel (avatar/live/face_worker.py, avatar/live/face_worker_main.py) map it.
"""

from __future__ import annotations

from multiprocessing.shared_memory import SharedMemory

import numpy as np

#: Image slots in the ring (one frame is in flight at a time; two keep a slot free).
RING_SLOTS = 2
#: The largest frame: 512 x 512 RGB.
SLOT_BYTES = 512 * 512 * 3
#: The camera slot: a decoded frame at most 320 px wide (ANALYSIS_WIDTH), up to 4:1 tall.
CAMERA_SLOT_BYTES = 320 * 1280 * 3


class FrameRing:
    """The shared memory of one worker: RING_SLOTS image slots, then a camera slot."""

    def __init__(self, memory: SharedMemory, owner: bool) -> None:
        self.memory = memory
        self._owner = owner

    @classmethod
    def create(cls) -> FrameRing:
        """A new ring (the parent's side: it unlinks it when the worker is done)."""
        return cls(SharedMemory(create=True, size=RING_SLOTS * SLOT_BYTES + CAMERA_SLOT_BYTES),
                   owner=True)

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


__all__ = ["CAMERA_SLOT_BYTES", "RING_SLOTS", "SLOT_BYTES", "FrameRing"]
