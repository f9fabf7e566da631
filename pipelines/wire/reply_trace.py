"""A debug trace of a reply's first audio on its way out: when each 40 ms frame was
pushed, against the voice a client that starts playing with the first one has left.

Why: a client's playback breaks where a frame of the reply reaches it after the audio
before it has played. This says whether the server sent it late, and what it waited
for (its block's generator step, its drawing). Off unless `TRACE_ENV` is set to the
number of frames of each reply to trace (e.g. 25: its first second); then one log
line a reply, read by benches and people, never by the product.
"""

from __future__ import annotations

import os
import time

from loguru import logger

#: the environment variable that turns the trace on: frames of each reply to trace
TRACE_ENV = "AVATAR_FORCING_TRACE_REPLY_AUDIO"


class ReplyAudioTrace:
    """One session's trace: `pushed` for each reply frame, `stepped` for each block step."""

    def __init__(self, frames: int, where: str = "clock") -> None:
        self.frames = frames
        #: which step of the way out pushes (named in the log line)
        self.where = where
        #: (ms since the reply's first push, the audio pushed before it less that time
        #: in ms: what a client playing from the first frame's arrival has left, a note)
        self._rows: list[tuple[float, float, str]] = []
        self._first = 0.0
        self._steps: list[tuple[float, float]] = []
        self._replies = 0

    @classmethod
    def from_env(cls, where: str = "clock") -> ReplyAudioTrace | None:
        """A trace when TRACE_ENV holds a positive number of frames, else None.

        Raises:
            ValueError: the variable is set but not a positive whole number.
        """
        value = os.environ.get(TRACE_ENV)
        if not value:
            return None
        try:
            frames = int(value)
        except ValueError:
            frames = 0
        if frames <= 0:
            raise ValueError(f"{TRACE_ENV}={value!r}: give the frames of each reply to trace "
                             "as a positive whole number (e.g. 25), or leave it unset")
        return cls(frames, where)

    def stepped(self, began: float, ended: float) -> None:
        """A generator step of the reply's blocks ran from `began` to `ended` (monotonic s)."""
        if self._first and len(self._rows) < self.frames:
            self._steps.append((began, ended))

    def pushed(self, first_of_reply: bool, frame_secs: float, note: str = "") -> None:
        """A reply frame's audio was pushed now (`first_of_reply`: the reply's first)."""
        now = time.monotonic()
        if first_of_reply:
            self._flush()
            self._first = now
            self._replies += 1
        if not self._first or len(self._rows) >= self.frames:
            return
        since = now - self._first
        ahead = len(self._rows) * frame_secs - since
        self._rows.append((1000 * since, 1000 * ahead, note))
        if len(self._rows) == self.frames:
            self._flush()

    def _flush(self) -> None:
        """Log the reply's rows (once) and start again."""
        if not self._rows:
            return
        frames = " ".join(f"{k}:{since:.0f}/{ahead:.0f}{note}"
                          for k, (since, ahead, note) in enumerate(self._rows))
        steps = " ".join(f"{1000 * (b - self._first):.0f}+{1000 * (e - b):.0f}"
                         for b, e in self._steps)
        least = min(ahead for _, ahead, _ in self._rows)
        logger.info(f"reply audio trace ({self.where}) {self._replies} at {self._first:.4f}: least ahead "
                    f"{least:.0f} ms; frame:pushed ms/ahead ms {frames}; steps from+took ms "
                    f"{steps}")
        self._rows, self._steps, self._first = [], [], 0.0


__all__ = ["TRACE_ENV", "ReplyAudioTrace"]
