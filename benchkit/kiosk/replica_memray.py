"""memray inside one Ray Serve replica process, started and stopped by files.

Why files, not the signals bench/live/session_churn.py sends the plain server: a replica's
main thread waits in Ray's task loop (C++), and Python runs signal handlers only on
the main thread, so a SIGUSR1 would never be handled. benchkit/memory_trace's
sitecustomize, loaded by every Ray worker when `prepare` put it on the path before
the cluster started, watches a folder from a thread of its own instead.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchkit.paths import ROOT

DIR_ENV = "AVATAR_FORCING_BENCH_MEMRAY_DIR"


def prepare(folder: Path) -> None:
    """Make Ray workers started from now on watch `folder` (call before the cluster starts:
    its processes take this environment with them)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[DIR_ENV] = str(folder)
    paths = [str(ROOT / "benchkit" / "memory_trace"), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def start(folder: Path, pid: int) -> Path:
    """Ask process `pid` to start tracking; the path its capture will have."""
    (folder / f"start-{pid}").touch()
    return folder / f"memray-{pid}.bin"


def stop(folder: Path, pid: int, timeout: float = 300.0) -> Path:
    """Ask process `pid` to stop tracking and wait until its capture is complete.

    Raises:
        TimeoutError: the process never wrote its capture (it was not watching, or died).
    """
    (folder / f"stop-{pid}").touch()
    capture = folder / f"memray-{pid}.bin"
    done = Path(str(capture) + ".done")
    deadline = time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} did not finish its memray capture in "
                               f"{timeout:.0f} s (is it a Ray worker started after prepare?)")
        time.sleep(0.5)
    return capture
