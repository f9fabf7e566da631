"""The server's timed threads and the interpreter lock: how often it changes hands,
and a watch that logs the waits for it.

Why: the WebRTC voice is written by a pacer thread every 20 ms
(wire/webrtc/audio_pacer.py) and needs the interpreter lock for each packet, while a
dozen other threads of the server want it too. Python asks a thread to hand the lock
over only after the switch interval, and then any waiting thread may take it, so a
packet can wait several turns; a late voice makes the browser's audio buffer grow and
its own lip sync slip (docs/PIPECAT.md). `SWITCH_INTERVAL_SECS` makes the turns short.

The watch (`AVATAR_FORCING_STALL_WATCH_MS` set: the wait, in ms, worth a log line)
wakes every few milliseconds; when it wakes much later than asked it logs how much of
the wait was for a core (the thread's run-queue time) and how much for the lock, and
where every other thread is.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

from loguru import logger

from avatar.procfs import thread_run_queue_seconds

#: how long a thread runs before it is asked to hand the interpreter lock over (s):
#: Python's default is 0.005
SWITCH_INTERVAL_SECS = 0.001
#: the environment variable that turns the watch on, with the stall worth logging (ms)
STALL_WATCH_ENV = "AVATAR_FORCING_STALL_WATCH_MS"
#: how often the watch wakes (s)
TICK_SECS = 0.002
#: frames of each thread's stack logged
STACK_FRAMES = 6


class StallWatch(threading.Thread):
    """Logs every wait for the interpreter lock longer than `stall_ms`, with the stacks."""

    def __init__(self, stall_ms: float) -> None:
        super().__init__(name="stall-watch", daemon=True)
        self.stall_secs = stall_ms / 1000
        self.stalls = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            asked, queued = time.monotonic(), run_queue_secs()
            if self._stop_event.wait(TICK_SECS):
                return
            late = time.monotonic() - asked - TICK_SECS
            if late >= self.stall_secs:
                self.stalls += 1
                for_core = run_queue_secs() - queued
                logger.warning(f"stall: this thread woke {1000 * late:.0f} ms late, "
                               f"{1000 * for_core:.0f} ms of it waiting for a core (the rest for "
                               f"the interpreter lock); the others are at:\n{other_stacks()}")

    def stop(self) -> None:
        self._stop_event.set()


def run_queue_secs() -> float:
    """Seconds the calling thread has waited, runnable, for a core (Linux schedstat; 0
    where there is none)."""
    return thread_run_queue_seconds()


def other_stacks() -> str:
    """The innermost STACK_FRAMES frames of every thread but the caller's."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    lines = []
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        stack = traceback.extract_stack(frame)[-STACK_FRAMES:]
        where = " <- ".join(f"{entry.name} ({os.path.basename(entry.filename)}:{entry.lineno})"
                            for entry in reversed(stack))
        lines.append(f"  {names.get(ident, ident)}: {where}")
    return "\n".join(lines)


def shorten_switch_interval() -> None:
    """Hand the interpreter lock over every SWITCH_INTERVAL_SECS (see the module doc)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECS)


def start_stall_watch() -> StallWatch | None:
    """The watch, started, when STALL_WATCH_ENV is set; else None.

    Raises:
        ValueError: the variable is not a positive number of milliseconds.
    """
    value = os.environ.get(STALL_WATCH_ENV)
    if not value:
        return None
    try:
        stall_ms = float(value)
    except ValueError:
        stall_ms = 0.0
    if not stall_ms > 0:
        raise ValueError(f"{STALL_WATCH_ENV}={value!r}: give the wait worth logging as a "
                         "positive number of milliseconds (e.g. 30), or leave it unset")
    watch = StallWatch(stall_ms)
    watch.start()
    logger.info(f"stall watch on: waits for the interpreter lock over {value} ms are logged")
    return watch
