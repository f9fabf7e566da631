"""Admit events at most `rate` a second, on a schedule that tolerates arrival jitter
(`RateGate`), and the camera's rule built on it (`CameraGate`).

A gate that requires `1 / rate` seconds since the last admitted event halves a
sender that runs at exactly `rate`: a browser's 10 fps timer delivers frames
97-103 ms apart, and every early one was refused (the avatar analysed 5 of the
kiosk's 10 camera frames a second). This gate keeps a schedule instead: an
event is admitted from a quarter period before its slot, and the next slot
moves on by one period, or to three quarters of a period after this event when
the sender has been idle (no burst of catching up).
"""

from __future__ import annotations


class RateGate:
    """`admit(now)`: True for at most about `rate` events a second."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.period = 1.0 / rate
        self._next = float("-inf")

    def admit(self, now: float) -> bool:
        """Whether an event arriving at `now` (seconds, monotonic) goes through."""
        if now < self._next - 0.25 * self.period:
            return False
        self._next = max(self._next + self.period, now + 0.75 * self.period)
        return True


class CameraGate:
    """The camera's admission rule: frames analysed at most `rate` a second, or at most
    `speaking_rate` while the avatar speaks (its reply's audio plays: the visitor's
    motion matters less then, and the landmarker's time goes to the other faces of
    the machine). Each rate keeps its own schedule, so the full rate is back with the
    first frame after the reply."""

    def __init__(self, rate: float, speaking_rate: float) -> None:
        """`rate` > 0; `speaking_rate` > 0 (above `rate`: the same rate while speaking)."""
        self.rate = rate
        self.speaking_rate = min(rate, speaking_rate)
        self._listening = RateGate(rate)
        self._speaking = RateGate(self.speaking_rate)

    def admit(self, now: float, *, speaking: bool) -> bool:
        """Whether a frame arriving at `now` (seconds, monotonic) is analysed."""
        return (self._speaking if speaking else self._listening).admit(now)
