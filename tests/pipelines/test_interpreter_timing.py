"""The server's hold on the interpreter lock: shorter turns, and a watch that names long waits."""

from __future__ import annotations

import sys
import time

import pytest
from loguru import logger

from pipelines.server.interpreter_timing import (
    STALL_WATCH_ENV,
    SWITCH_INTERVAL_SECS,
    shorten_switch_interval,
    start_stall_watch,
)


def test_the_server_hands_the_lock_over_sooner_than_python_does() -> None:
    before = sys.getswitchinterval()
    try:
        shorten_switch_interval()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECS)
        assert SWITCH_INTERVAL_SECS < 0.005  # Python's default
    finally:
        sys.setswitchinterval(before)


def test_the_watch_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STALL_WATCH_ENV, raising=False)
    assert start_stall_watch() is None


@pytest.mark.parametrize("value", ["thirty", "0", "-5"])
def test_a_watch_asked_for_with_no_usable_wait_is_refused_by_name(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(STALL_WATCH_ENV, value)
    with pytest.raises(ValueError, match=f"{STALL_WATCH_ENV}=.*positive number of milliseconds"):
        start_stall_watch()


def test_the_watch_logs_a_long_hold_of_the_lock_with_the_threads_stacks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STALL_WATCH_ENV, "30")
    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING", format="{message}")
    # one C call that keeps the lock (no bytecode to switch at), sized to ~150 ms here
    started = time.perf_counter()
    sum(range(1_000_000))
    terms = int(1_000_000 * 0.15 / max(time.perf_counter() - started, 1e-4))
    watch = start_stall_watch()
    assert watch is not None
    try:
        time.sleep(0.05)
        sum(range(terms))
        time.sleep(0.05)
    finally:
        watch.stop()
        watch.join(1.0)
        logger.remove(sink)
    assert watch.stalls >= 1
    stall = next(line for line in lines if line.startswith("stall:"))
    assert "for the interpreter lock" in stall
    assert "MainThread:" in stall and "test_interpreter_timing.py" in stall
