"""Which frames repeat the last image while the reply is thought up.

From the visitor's end of speech until the reply's first audio, whisper, the LLM and
piper decide when the reply is heard, and they share the cores with the face. Drawing
a 512 px frame and its JPEG is the face's dearest job; the generator's step, which
keeps the motion going, costs a few percent of a core. So in that window:

- for its first `hold_secs` the face draws nothing new: every idle frame repeats the
  last image while the generator goes on stepping, so the motion stays continuous and
  the reply's first frame is drawn from where it has got to. On a loaded machine that
  draws few images a second, though, the last one may already be old when the window
  opens, and the hold on top of it would keep the face still for much longer than the
  hold: a picture older than `stale_secs` when the window opened is drawn anew first,
  and the hold holds that one (the reply's mouths are then drawn of it, hand_over.py);
- after that (a slow reply still thought up) one frame in `stride` is drawn, so the
  face never looks frozen for long;
- a frame carrying reply audio is always drawn: the voice goes out with its first
  image.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThinkingFrames:
    """The thinking window's drawing choice (defaults: nothing held, one frame in two)."""

    #: from the window's start, idle frames repeat the last image for this long (s);
    #: 0: never held, only the stride
    hold_secs: float = 0.0
    #: after the hold, one frame in this many is drawn (1: every frame)
    stride: int = 2
    #: a picture already older than this (s) when the window opened is drawn anew
    #: before the hold holds it
    stale_secs: float = 0.5

    def __post_init__(self) -> None:
        if self.hold_secs < 0:
            raise ValueError(f"hold_secs must be >= 0, got {self.hold_secs}")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")

    def repeats(self, index: int, *, speaking: bool, thought_for: float | None,
                still_for: float = 0.0) -> bool:
        """True when frame `index` repeats the last image by choice.

        `speaking`: the frame carries reply audio; `thought_for`: seconds since the
        thinking window opened (None: the reply is not being thought up); `still_for`:
        seconds since the face last showed a new image."""
        if speaking or thought_for is None:
            return False
        if thought_for < self.hold_secs:
            return still_for - thought_for <= self.stale_secs
        return self.stride > 1 and index % self.stride != 0

    def holding(self, thought_for: float | None) -> bool:
        """The window is in its hold: no frame of it is drawn (reply frames aside)."""
        return thought_for is not None and thought_for < self.hold_secs


__all__ = ["ThinkingFrames"]
