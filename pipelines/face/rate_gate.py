"""Admit events at most `rate` a second, on a schedule that tolerates arrival jitter.

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
