"""bench/kiosk/day_soak.py's verdict on a memory series (benchkit/kiosk/day_memory.py): growth per
hour and per 100 sessions after the warm-up, and whether it has levelled off."""

from __future__ import annotations

import os
import time

import numpy as np

from benchkit import clocks
from benchkit.kiosk.day_memory import MemorySampler, growth


def _series(mb_at: object, minutes: float = 60.0, every_s: float = 15.0
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.arange(0.0, minutes * 60.0 + 1, every_s)
    sessions = np.floor(t / 18.0)  # a session every 18 s: 200 an hour
    return t, sessions, np.asarray([mb_at(x) for x in t], dtype=float)  # type: ignore[operator]


def test_a_steady_leak_is_read_per_hour_and_per_100_sessions_and_has_not_levelled() -> None:
    t, n, mb = _series(lambda s: 700.0 + 30.0 * s / 3600.0)  # +30 MB an hour
    verdict = growth(t, n, mb, warmup_secs=600, flat_mb_per_hour=5.0)
    assert abs(verdict["mb_per_hour"] - 30.0) < 0.5
    assert abs(verdict["mb_per_100_sessions"] - 15.0) < 0.5  # 200 sessions an hour
    assert verdict["levelled"] is False


def test_a_cache_filling_then_flat_has_levelled_and_a_flat_line_is_level_too() -> None:
    t, n, mb = _series(lambda s: 700.0 + min(s, 1800.0) / 3600.0 * 200.0)
    filling = growth(t, n, mb, warmup_secs=0, flat_mb_per_hour=5.0)
    assert filling["first_third_mb_per_hour"] > 150 and filling["levelled"] is True
    noise = np.random.default_rng(0).normal(0.0, 3.0, len(t))
    flat = growth(t, n, 900.0 + noise, warmup_secs=600, flat_mb_per_hour=5.0)
    assert abs(flat["mb_per_hour"]) < 5.0 and flat["levelled"] is True


def test_the_sampler_reads_real_processes_until_stopped() -> None:
    pid = os.getpid()
    sampler = MemorySampler(read=lambda: {"self": (clocks.rss_mb(pid), clocks.pss_mb(pid))},
                            sessions=lambda: 3, every=0.05)
    sampler.start()
    time.sleep(0.3)
    sampler.stop()
    t, n, mb = sampler.series("self", 0)
    assert len(t) >= 3 and (n == 3).all() and (mb > 10).all()
