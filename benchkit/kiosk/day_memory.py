"""Memory of a kiosk machine's processes over a working-day soak (bench/kiosk/day_soak.py):
sampled in a thread, then fitted.

What is read: RSS (what `top` and the OOM killer see) and PSS (each shared page
divided among its sharers: torch's libraries mapped by a server and its forked face
workers count once), per process role, from /proc. A role ("server", "face workers",
"llm") sums its processes, because face workers are recycled and come back under new
pids.

How growth is judged (`growth`): a least-squares slope in MB per hour over the samples
after the warm-up, and the same slope divided by the sessions served per hour (MB per
100 sessions). Levelled off: the slope over the last third of that span is at most a
quarter of the first third's, or is itself below `flat_mb_per_hour` (a series that was
flat from the start has no first-third slope to fall from).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: (rss MB, pss MB) per role
Reading = dict[str, tuple[float, float]]


@dataclass
class MemorySampler:
    """Every `every` s, `read()` on a thread: rows of (t, sessions ended, reading)."""

    read: Callable[[], Reading]
    sessions: Callable[[], int]
    every: float = 15.0
    t0: float = field(default_factory=time.monotonic)
    rows: list[tuple[float, int, Reading]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="day-memory", daemon=True)

    def sample(self) -> None:
        """One reading now (a process gone mid-read: its role reads what is left)."""
        with contextlib.suppress(OSError, ValueError):
            self.rows.append((time.monotonic() - self.t0, self.sessions(), self.read()))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.sample()

    def series(self, role: str, which: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(seconds, sessions ended, MB) of one role; `which` 0 for RSS, 1 for PSS."""
        rows = [(t, n, reading[role][which]) for t, n, reading in self.rows if role in reading]
        if not rows:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        t, n, mb = (np.asarray(column, dtype=float) for column in zip(*rows, strict=True))
        return t, n, mb


def _slope_per_hour(t: np.ndarray, mb: np.ndarray) -> float | None:
    if len(t) < 3 or t[-1] - t[0] < 60.0:
        return None
    return float(np.polyfit(t / 3600.0, mb, 1)[0])


def growth(t: np.ndarray, sessions: np.ndarray, mb: np.ndarray, *, warmup_secs: float,
           flat_mb_per_hour: float) -> dict[str, Any]:
    """Growth after `warmup_secs`: per hour, per 100 sessions, by thirds, levelled."""
    kept = t >= t[0] + warmup_secs if len(t) else np.zeros(0, dtype=bool)
    t, sessions, mb = t[kept], sessions[kept], mb[kept]
    per_hour = _slope_per_hour(t, mb)
    if per_hour is None:
        return {"mb_per_hour": None, "span_secs": float(t[-1] - t[0]) if len(t) else 0.0}
    hours = (t[-1] - t[0]) / 3600.0
    served = float(sessions[-1] - sessions[0])
    thirds = np.array_split(np.arange(len(t)), 3)
    first = _slope_per_hour(t[thirds[0]], mb[thirds[0]])
    last = _slope_per_hour(t[thirds[-1]], mb[thirds[-1]])
    levelled = None
    if first is not None and last is not None:
        levelled = last <= max(first / 4.0, flat_mb_per_hour)
    return {
        "mb_per_hour": round(per_hour, 1),
        "mb_per_100_sessions": round(per_hour * hours / served * 100.0, 2) if served else None,
        "sessions_in_span": int(served),
        "span_secs": round(float(t[-1] - t[0])),
        "mb_first": round(float(mb[0]), 1), "mb_last": round(float(mb[-1]), 1),
        "mb_min": round(float(mb.min()), 1), "mb_max": round(float(mb.max()), 1),
        "first_third_mb_per_hour": None if first is None else round(first, 1),
        "last_third_mb_per_hour": None if last is None else round(last, 1),
        "levelled": levelled,
    }
