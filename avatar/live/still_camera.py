"""Tell a camera frame that shows nothing new from one worth the face landmarker.

Why: the landmarker costs about 9 ms of a core per analysed frame, a
third of a live face's CPU at 10 analyses a second, and a visitor who stands and
listens changes little between frames. Comparing a 64x48 grey thumbnail with the
one of the last analysed frame costs about 0.05 ms. When no part of it moved, the
last measured motion stands for this frame and the landmarker is not run.

"No part": the thumbnail is cut into 8x8-pixel cells and the largest cell's mean
change decides, so a mouth that opens (a few percent of the picture, one or two
cells) counts as much as a head that turns. The change is measured against the
last frame that WAS analysed, so a slow drift (a smile building over a second)
adds up until it crosses the threshold. Every `max_gap_ms` a frame is analysed
whatever it shows, so a change too small to see here is never held for long.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Thumbnail the frames are compared at: (width, height), in 8x8 cells (8 x 6).
THUMB_SIZE = (64, 48)
CELL = 8
#: Largest mean change of one cell (grey levels, 0-255) that still counts as "nothing
#: new"; chosen on real face clips (docs/LIVE_AVATAR.md).
DEFAULT_THRESHOLD = 3.0
#: At most this long between two analysed frames, whatever the thumbnails say.
DEFAULT_MAX_GAP_MS = 500


class StillCamera:
    """Decides per camera frame whether the landmarker must look at it (one session)."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD,
                 max_gap_ms: int = DEFAULT_MAX_GAP_MS) -> None:
        if threshold < 0 or max_gap_ms < 0:
            raise ValueError(f"threshold and max_gap_ms must be >= 0, got {threshold}, "
                             f"{max_gap_ms}")
        self.threshold = threshold
        self.max_gap_ms = max_gap_ms
        self._reference: np.ndarray | None = None  # thumbnail of the last analysed frame
        self._reference_ms = 0

    def unchanged(self, rgb: np.ndarray, timestamp_ms: int) -> bool:
        """True when `rgb` shows nothing new since the last analysed frame and that one
        is recent: the caller may reuse its motion. False means: analyse this frame
        (and it becomes the new reference)."""
        thumb = thumbnail(rgb)
        if (self._reference is not None and self.threshold > 0
                and timestamp_ms - self._reference_ms < self.max_gap_ms
                and largest_cell_change(thumb, self._reference) < self.threshold):
            return True
        self._reference, self._reference_ms = thumb, timestamp_ms
        return False

    def reset(self) -> None:
        """Forget the reference (a new session): the next frame is analysed."""
        self._reference = None


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """(48, 64) float32 grey thumbnail of an (H, W, 3) RGB frame, any size or aspect."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def largest_cell_change(a: np.ndarray, b: np.ndarray) -> float:
    """The largest mean absolute difference of one CELL x CELL cell of two thumbnails."""
    height, width = a.shape
    cells = np.abs(a - b).reshape(height // CELL, CELL, width // CELL, CELL)
    return float(cells.mean(axis=(1, 3)).max())
