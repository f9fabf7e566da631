"""Loaded by Python at start-up when this folder is on PYTHONPATH (bench/live/session_churn.py
`--trace-memory` / `--memray`): the bench's server process traces its allocations and
the bench names the allocation sites that grew.

Two tracers, chosen by the environment the bench sets:
- `AVATAR_FORCING_BENCH_SNAPSHOTS=DIR`: tracemalloc (Python allocations) from the
  start; SIGUSR2 writes snapshot N to DIR, and the bench compares the one after
  warm-up with the last.
- `AVATAR_FORCING_BENCH_MEMRAY=FILE`: memray, native allocations included (glibc
  malloc, C++ new, mmap: torch's, onnxruntime's, libvpx's heaps). SIGUSR1 starts the
  tracker after warm-up and SIGUSR2 stops it; memray's aggregated file then holds, per
  allocation site, what was allocated between the two and is still alive at the stop:
  exactly what grew over those sessions, with its native and Python stack.

Only the server under test traces (its command line has `--serve-port`): its face
workers, fork server and the LLM server start with the same environment and must
keep their speed. Nothing in the product imports this.

A Ray Serve replica (bench/kiosk/day_soak.py `--mode fleet --memray`) cannot take the
signals: its main thread sits in Ray's task loop, in C++, and Python runs a signal
handler only on the main thread. There `AVATAR_FORCING_BENCH_MEMRAY_DIR=DIR` makes
every Ray worker process watch DIR from a thread of its own: the bench creates
`start-PID` in DIR for the one replica it measures (memray then writes
`memray-PID.bin`) and `stop-PID` at the end (then `memray-PID.bin.done` appears). The
other Ray workers only look at DIR twice a second.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from typing import Any

_FOLDER = os.environ.get("AVATAR_FORCING_BENCH_SNAPSHOTS")
_MEMRAY = os.environ.get("AVATAR_FORCING_BENCH_MEMRAY")
_MEMRAY_DIR = os.environ.get("AVATAR_FORCING_BENCH_MEMRAY_DIR")

if _FOLDER and "--serve-port" in sys.argv:
    _INTO: str = _FOLDER
    tracemalloc.start(int(os.environ.get("AVATAR_FORCING_BENCH_TRACE_FRAMES", "8")))
    _taken = [0]

    def _dump(signum: int, frame: object) -> None:
        """Write snapshot N (the bench reads them in order)."""
        _taken[0] += 1
        snapshot = tracemalloc.take_snapshot()
        path = os.path.join(_INTO, f"snapshot-{_taken[0]:02d}.pickle")
        snapshot.dump(path + ".partial")
        os.replace(path + ".partial", path)

    signal.signal(signal.SIGUSR2, _dump)

elif _MEMRAY and "--serve-port" in sys.argv:
    _FILE: str = _MEMRAY
    _TRACKER: list[Any] = []

    def _start(signum: int, frame: object) -> None:
        """Begin tracking (after the bench's warm-up sessions)."""
        import memray

        if _TRACKER:
            return
        tracker = memray.Tracker(
            _FILE, native_traces=True, follow_fork=False,
            file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS)
        tracker.__enter__()
        _TRACKER.append(tracker)

    def _stop(signum: int, frame: object) -> None:
        """End tracking: the file is complete, with what is still alive now."""
        if _TRACKER:
            _TRACKER.pop().__exit__(None, None, None)
            with open(_FILE + ".done", "w") as done:
                done.write("stopped\n")

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)


def _watch_for_triggers(folder: str) -> None:
    """A Ray worker's side of the file triggers: start, then stop, memray in this process."""
    import threading
    import time

    pid = os.getpid()
    start, stop = (os.path.join(folder, f"{name}-{pid}") for name in ("start", "stop"))
    file = os.path.join(folder, f"memray-{pid}.bin")

    def watch() -> None:
        tracker: Any = None
        while True:
            time.sleep(0.5)
            if tracker is None and os.path.exists(start):
                import memray

                tracker = memray.Tracker(
                    file, native_traces=True, follow_fork=False,
                    file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS)
                tracker.__enter__()
            elif tracker is not None and os.path.exists(stop):
                tracker.__exit__(None, None, None)
                with open(file + ".done", "w") as done:
                    done.write("stopped\n")
                return

    threading.Thread(target=watch, name="bench-memray-watch", daemon=True).start()


if _MEMRAY_DIR and any(arg.endswith("default_worker.py") for arg in sys.argv):
    _watch_for_triggers(_MEMRAY_DIR)
