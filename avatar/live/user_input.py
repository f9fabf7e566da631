"""The user's microphone and camera as a live session consumes them.

The user's conditions only exist in real time: their audio becomes 40 ms feature
rows as it arrives (any chunking, any rate), each row paired with the face
measurement current when it arrived, and the rows wait in a queue until their
block is due. The queue is bounded both ways: a mic that fell behind is padded
with silence (and the late audio skipped when it comes), a burst that ran ahead
loses its oldest rows, so the avatar's reaction lag stays bounded.

Not locked itself: `featurize` touches only the featurizer (the pushing thread's),
every other method runs under the session's lock (avatar/live/session.py).
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from avatar.audio_features import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    CausalAudioFeaturizer,
    compute_features,
)
from avatar.live.resample import StreamingResampler, as_float32
from avatar.live.session_types import SessionStats
from avatar.motion import MOTION_DIM

#: one user frame: (audio features, face motion, face present)
UserRow = tuple[np.ndarray, np.ndarray, bool]


def checked_user_motion(motion: np.ndarray | None) -> np.ndarray | None:
    """`motion` as a (58,) float32 array (None: no face in view).

    Raises:
        ValueError: not (MOTION_DIM,), or not finite.
    """
    if motion is not None:
        motion = np.asarray(motion, np.float32)
        if motion.shape != (MOTION_DIM,) or not np.isfinite(motion).all():
            raise ValueError(f"user motion must be ({MOTION_DIM},) finite, "
                             f"got {motion.shape}")
    return motion


class UserInput:
    """The user's feature rows waiting for their block, and their latest face."""

    def __init__(self, stats: SessionStats, motion_hold_secs: float,
                 max_backlog: int) -> None:
        """`stats`: the session's counters (padded and dropped frames are counted there);
        `motion_hold_secs`: how long a camera measurement stands for the user's face;
        `max_backlog`: user frames kept waiting beyond one block."""
        self._stats = stats
        self._hold_secs = motion_hold_secs
        self._max_backlog = max_backlog
        self._featurizer = CausalAudioFeaturizer()
        self._resamplers: dict[int, StreamingResampler] = {}
        self._rows: deque[UserRow] = deque()
        self.heard = 0  # user frames taken from the queue (used or dropped)
        self._debt = 0  # frames padded with silence whose late audio is to be skipped
        self._motion: np.ndarray | None = None
        self._motion_at = -1e9
        self._reference = np.zeros(MOTION_DIM, np.float32)
        #: the features of a silent frame (a padded row, the look-ahead before the start)
        self.silence = compute_features(np.zeros(SAMPLES_PER_FRAME, np.float32))[0]

    def featurize(self, pcm: bytes | np.ndarray, sample_rate: int) -> np.ndarray:
        """The feature rows of the next stretch of microphone audio (none until 40 ms
        have arrived); call `queue` with them."""
        audio = as_float32(pcm)
        if sample_rate != SAMPLE_RATE:
            resampler = self._resamplers.setdefault(sample_rate,
                                                    StreamingResampler(sample_rate))
            audio = resampler.push(audio)
        rows: np.ndarray = self._featurizer.push(audio)
        return rows

    def queue(self, rows: np.ndarray) -> None:
        """Queue feature rows, each with the user's face as it is now."""
        motion, present = self.current_motion()
        for row in rows:
            self._rows.append((row, motion, present))

    def set_motion(self, motion: np.ndarray | None) -> None:
        """The user's latest face measurement (from `checked_user_motion`), or None."""
        self._motion = None if motion is None else motion.copy()
        self._motion_at = time.monotonic()

    def set_reference(self, reference: np.ndarray) -> None:
        """The motion that stands for "no face": the portrait's reference."""
        self._reference = reference

    def current_motion(self) -> tuple[np.ndarray, bool]:
        """The user's face (58,) and whether it is a fresh measurement (else the
        reference stands in: no face)."""
        fresh = time.monotonic() - self._motion_at <= self._hold_secs
        if self._motion is not None and fresh:
            return self._motion, True
        return self._reference, False

    def take_rows(self, n: int) -> list[UserRow]:
        """n user frames for the next block: silence where the mic fell behind,
        the oldest dropped where a burst ran ahead (bounded reaction lag).

        Audio that arrives after its time was already filled with silence is
        skipped (up to one block of it): consumed oldest first, it would
        otherwise keep the avatar that much behind the user for good.
        """
        while self._debt > 0 and len(self._rows) > n:
            self._rows.popleft()
            self._debt -= 1
            self._stats.user_frames_dropped += 1
            self.heard += 1
        excess = len(self._rows) - n - self._max_backlog
        for _ in range(max(0, excess)):
            self._rows.popleft()
            self._stats.user_frames_dropped += 1
            self.heard += 1
        rows = [self._rows.popleft() for _ in range(min(n, len(self._rows)))]
        self.heard += len(rows)
        if len(rows) < n:
            motion, present = self.current_motion()
            self._stats.user_frames_padded += n - len(rows)
            self._debt = min(n, self._debt + n - len(rows))
            rows += [(self.silence, motion, present)] * (n - len(rows))
        return rows


__all__ = ["UserInput", "UserRow", "checked_user_motion"]
