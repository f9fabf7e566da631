"""A session's face whose client draws it: the generator runs, nothing is drawn.

A session drawn by its client (protocol v2.3, `hello.render`) needs only the motion
each frame: no warp, no JPEG, no image to carry. Its face backend is the usual one
(a `WorkerFace` on the server's pool, or a `LocalFace` without one), generator steps
and camera analysis included, but `draw` returns an empty image at once until the
client asks for pixels (`draw_pixels`): from the next frame on it draws as ever, on
the renderer its worker built when the session started, so the switch is immediate.

They subclass the backends rather than wrap them: the face service recognises a
worker process's face by its class (its restarts, its own work time).
"""

from __future__ import annotations

from typing import Protocol, cast

import numpy as np

from avatar.generator.checkpoint import GeneratorCheckpoint
from avatar.live.face import DrawnImage, FaceBackend, LocalFace
from avatar.live.face_pool import FaceWorkerPool, WorkerFace
from avatar.live.video_codec import VideoRequest

#: what a frame carries while the client draws: no pixels (a 0 x 0 RGB image)
NO_IMAGE = np.zeros((0, 0, 3), np.uint8)
NO_IMAGE.flags.writeable = False


class DrawSwitch(Protocol):
    """A face that draws nothing until asked."""

    @property
    def drawing(self) -> bool:
        """True once pixels were asked for."""
        ...

    def draw_pixels(self) -> None:
        """Draw every frame from the next one on (one way: a new session draws anew)."""
        ...


class _DrawsOnRequest:
    """The switch both client-drawn faces share: `draw` gives no image until
    `draw_pixels()`, then the face class it is mixed into draws (it must come before
    that `FaceBackend` in the bases)."""

    #: set for good by `draw_pixels()` (a class default: each backend's __init__ differs)
    _drawing = False

    @property
    def drawing(self) -> bool:
        """True once pixels were asked for."""
        return self._drawing

    def draw_pixels(self) -> None:
        """Draw every frame from the next one on."""
        self._drawing = True

    def draw(self, motion: np.ndarray, size: int, jpeg_quality: int,
             video: VideoRequest | None = None) -> DrawnImage:
        """No pixels (`NO_IMAGE`) until `draw_pixels()`; then the backend's own draw."""
        if not self._drawing:
            return DrawnImage(NO_IMAGE, None, 0.0)
        backend = cast(FaceBackend, super())  # the LocalFace or WorkerFace next in the MRO
        return backend.draw(motion, size, jpeg_quality, video)


class ClientDrawnWorkerFace(_DrawsOnRequest, WorkerFace):
    """A `WorkerFace` that draws only once `draw_pixels()` was called."""


class ClientDrawnLocalFace(_DrawsOnRequest, LocalFace):
    """A `LocalFace` (no worker pool) that draws only once `draw_pixels()` was called."""


def client_drawn_face(pool: FaceWorkerPool | None,
                      checkpoint: GeneratorCheckpoint) -> ClientDrawnWorkerFace | ClientDrawnLocalFace:
    """The face of a session its client draws: on `pool` when the server keeps one."""
    if pool is not None:
        return ClientDrawnWorkerFace(pool)
    return ClientDrawnLocalFace(checkpoint)


__all__ = ["NO_IMAGE", "ClientDrawnLocalFace", "ClientDrawnWorkerFace", "DrawSwitch",
           "client_drawn_face"]
