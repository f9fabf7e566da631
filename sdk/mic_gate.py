"""A kiosk's microphone while nobody is there: quiet audio is held back, the last
second kept, and sent first when the gate opens (`welcome.presence.mic_gate`,
docs/PROTOCOL.md).

Why: an empty kiosk's server ran its whole voice pipeline (VAD, the visitor's audio
featurized for the face, 50 messages a second through pipecat) for a hall where
nobody speaks. While the server says nobody is there (presence "away") and the
microphone is quiet, the client sends nothing. A sound (a 20 ms chunk above
`open_level`) or any other presence state opens the gate, and the held audio goes
first, oldest first, so the first words of a visitor are heard whole. The gate
closes again only after `hangover_secs` of quiet audio were sent in "away", so the
server's VAD and turn detector always hear a turn's end.

The browser's twin is `MicGate` in pipelines/web/mic.js; both follow the same rule.
"""

from __future__ import annotations

from collections import deque

import numpy as np

#: audio kept while the gate is shut, sent first when it opens (s)
PREROLL_SECS = 1.0
#: a chunk this loud (RMS over full scale, -40 dBFS) opens the gate: below any
#: speech the server's VAD takes for words, above a quiet hall's noise floor
OPEN_LEVEL = 0.01
#: quiet audio sent in "away" before the gate shuts (s): longer than the server's
#: VAD stop and its turn detector's wait, so a turn's end is always heard
HANGOVER_SECS = 2.0


def chunk_level(pcm: bytes) -> float:
    """RMS of PCM s16le over full scale (0..1)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype=np.int16)
    if not len(samples):
        return 0.0
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)) / 32768.0)


class MicGate:
    """`offer(chunk, presence_state)` -> the chunks to send now (none while shut)."""

    def __init__(self, sample_rate: int, *, preroll_secs: float = PREROLL_SECS,
                 open_level: float = OPEN_LEVEL, hangover_secs: float = HANGOVER_SECS) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
        if preroll_secs < 0 or hangover_secs < 0 or open_level <= 0:
            raise ValueError("preroll_secs and hangover_secs must be >= 0, open_level > 0")
        self.sample_rate = sample_rate
        self.open_level = open_level
        self._preroll_samples = round(preroll_secs * sample_rate)
        self._hangover_samples = round(hangover_secs * sample_rate)
        self._held: deque[bytes] = deque()
        self._held_samples = 0
        self._quiet_samples = 0  # quiet audio sent in "away" since the last reason to send
        self.open = True  # a session starts sending (the server's first state is read later)
        #: chunks offered, chunks let through, and chunks held back for good, for stats
        self.offered = 0
        self.sent = 0
        self.withheld = 0
        #: times the gate opened (a sound, or someone seen)
        self.openings = 0

    def offer(self, pcm: bytes, state: str | None) -> list[bytes]:
        """The chunks to send for one captured chunk, given the presence state now
        (None: no presence, the gate stays open)."""
        self.offered += 1
        samples = len(pcm) // 2
        loud = chunk_level(pcm) >= self.open_level
        if state != "away" or loud:
            self._quiet_samples = 0
            if self.open:
                self.sent += 1
                return [pcm]
            self.open = True
            self.openings += 1
            out = [*self._held, pcm]
            self._held.clear()
            self._held_samples = 0
            self.sent += len(out)
            return out
        if self.open:
            self._quiet_samples += samples
            if self._quiet_samples < self._hangover_samples:
                self.sent += 1
                return [pcm]
            self.open = False
        self._held.append(pcm)
        self._held_samples += samples
        while self._held and self._held_samples - len(self._held[0]) // 2 >= self._preroll_samples:
            self._held_samples -= len(self._held.popleft()) // 2
            self.withheld += 1
        return []


__all__ = ["HANGOVER_SECS", "OPEN_LEVEL", "PREROLL_SECS", "MicGate", "chunk_level"]
