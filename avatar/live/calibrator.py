"""Each new portrait's own render calibration, fitted in the background while it is shown.

A portrait's own table lifts its jaw/smile round trip from r 0.32-0.89 to
0.85-0.95 (docs/renderer.md, "A calibration per portrait"), but the fit
(`fit_portrait_calibration`) costs one to two minutes of a core. A server has
two cores and a real-time pipeline on them, so the fit must never compete:

- one spawned process at a time, at nice 19 (the parent renices it right after
  start, so even its imports run at the lowest priority) with one torch and one
  OpenCV thread: the pipeline's threads always win the CPU, and the fit uses
  what they leave;
- a FIFO queue de-duplicated by portrait key (the crop's pixels), so ten
  sessions showing one upload cost one fit; the default portrait is never
  queued (the shipped table is its own fit);
- a fit that fails (an exception, a crash, a kill) is reported through
  `on_event` and not retried in this server's life; nothing else changes:
  renderers keep the shipped table.

Sessions never wait: a session that shows a queued portrait renders with the
shipped table and asks `landed(key)` before each frame it draws; once the fit
lands, its next frame uses the new table (AvatarSession.render). The landed
table is loaded once here and shared read-only by every session of that face.

    calibrator = PortraitCalibrator()           # the server's one worker
    on_its_way = calibrator.request(portrait)   # cheap; False: cached, default or failed
    table = calibrator.landed(portrait_key(portrait))  # None until the fit lands
    calibrator.close()                          # stops a running fit (idempotent)
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Literal

import cv2
import torch

from avatar.portrait import Portrait
from avatar.render.calibration import Calibration, load_calibration
from avatar.render.portrait_calibration import (
    RECIPE_RUNS,
    cache_dir,
    fit_portrait_calibration,
    is_default_portrait,
    key_path,
    portrait_key,
)

_log = logging.getLogger(__name__)

#: The lowest CPU priority (nice value) on Unix.
LOWEST_PRIORITY = 19
#: An error report sent back by the worker is cut to this many characters (a pipe
#: buffer holds 64 KB; the worker must never block on a report nobody reads yet).
MAX_REPORT_CHARS = 4000

Status = Literal["queued", "fitting", "ready", "failed", "not needed"]


@dataclass(frozen=True)
class FitRecipe:
    """What a background fit measures (`fit_portrait_calibration`'s arguments);
    the default is the full recipe, tests pass a small one."""

    runs: tuple[tuple[int, int, float], ...] = RECIPE_RUNS
    members: int | None = None  # readout ensemble size; None: calibration_fit's default
    steps: int = 3000


@dataclass(frozen=True)
class CalibrationEvent:
    """A fit that started, landed, failed or was found unnecessary (for the log)."""

    key: str
    name: str  # the portrait's name (a library stem or "upload-<session>")
    status: Status
    detail: str = ""  # failed: the worker's error; ready: the table's path
    secs: float = 0.0  # ready / failed: wall time of the fit


class PortraitCalibrator:
    """One low-priority worker process fitting queued portraits one at a time
    (see the module docstring). Thread-safe; `close()` is safe twice."""

    def __init__(self, folder: Path | None = None, *, recipe: FitRecipe | None = None,
                 on_event: Callable[[CalibrationEvent], None] | None = None) -> None:
        """`folder`: the cache dir (default `cache_dir()`, as `calibration_for`)."""
        self.folder = Path(folder) if folder is not None else cache_dir()
        self.recipe = recipe or FitRecipe()
        self._on_event = on_event or _log_event
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, Portrait]] = deque()
        self._status: dict[str, Status] = {}
        self._landed: dict[str, Calibration] = {}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ callers
    def request(self, portrait: Portrait) -> bool:
        """Queue `portrait` for a fit unless it has a table or one is on its way.

        Returns True while a table may still land for it (queued or fitting),
        False when there is nothing to wait for: already cached on disk, fitted
        or failed in this server, or the calibrator is closed. Cheap (hashes the
        crop, one stat): safe on a session's start path.
        """
        key = portrait_key(portrait)
        with self._cond:
            if self._closed:
                return False
            status = self._status.get(key)
            if status is not None:
                return status in ("queued", "fitting")
            if key_path(key, self.folder).is_file():
                return False  # `calibration_for` reads it when the renderer is built
            self._status[key] = "queued"
            self._queue.append((key, portrait))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="portrait-calibrator",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def landed(self, key: str) -> Calibration | None:
        """The table fitted for `key` in this server, else None (a dict read: per frame)."""
        return self._landed.get(key)

    @property
    def worker_pid(self) -> int | None:
        """The running fit's process id (ops, tests), None between fits."""
        with self._cond:
            process = self._process
        return None if process is None else process.pid

    def status(self, key: str) -> Status | None:
        """Where `key` stands; None if it was never requested. No lock (one dict read):
        a session asks before every frame and must never wait on the dispatcher."""
        return self._status.get(key)

    def wait(self, key: str, timeout: float | None = None) -> Status | None:
        """Block until `key` is no longer queued or fitting (tests, tools); its status."""
        with self._cond:
            self._cond.wait_for(lambda: self._status.get(key) not in ("queued", "fitting")
                                or self._closed, timeout)
            return self._status.get(key)

    def close(self) -> None:
        """Stop: drop the queue and end a running fit (its table is not written)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._queue.clear()
            process, thread = self._process, self._thread
            self._cond.notify_all()
        if process is not None and process.is_alive():
            process.terminate()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10.0)

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        """The dispatcher thread: one fit at a time, in queue order, until closed."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closed)
                if self._closed:
                    return
                key, portrait = self._queue.popleft()
            try:
                self._fit_one(key, portrait)
            except Exception as error:  # a bug here must not stop later fits
                self._finish(key, portrait.name, "failed", f"{type(error).__name__}: {error}")

    def _fit_one(self, key: str, portrait: Portrait) -> None:
        if is_default_portrait(portrait):
            self._finish(key, portrait.name, "not needed", "the shipped table is its own fit")
            return
        path = key_path(key, self.folder)
        if path.is_file():  # fitted meanwhile by another process (the CLI)
            self._finish(key, portrait.name, "ready", str(path), table_at=path)
            return
        started = time.monotonic()
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=fit_in_worker, name=f"calibrate-{key[:8]}",
                                  args=(portrait, str(self.folder), self.recipe, send),
                                  daemon=True)  # ends with the server
        with self._cond:
            if self._closed:
                return
            self._status[key] = "fitting"
            self._process = process
        process.start()  # not under the lock: it waits for the new interpreter to read
        if process.pid is not None:  # before its imports: the whole worker runs at nice 19
            _lower_priority(process.pid)
        with self._cond:
            if self._closed:  # close() came while it started
                process.terminate()
        send.close()  # the worker holds the only sending end: EOF if it dies
        self._on_event(CalibrationEvent(key, portrait.name, "fitting"))
        process.join()
        report = _read_report(receive)
        secs = time.monotonic() - started
        with self._cond:
            self._process = None
            closed = self._closed
        if closed:
            return
        if process.exitcode == 0 and report is None and path.is_file():
            self._finish(key, portrait.name, "ready", str(path), secs, table_at=path)
        else:
            detail = report or f"the worker ended with exit code {process.exitcode}"
            self._finish(key, portrait.name, "failed", detail, secs)

    def _finish(self, key: str, name: str, status: Status, detail: str = "",
                secs: float = 0.0, table_at: Path | None = None) -> None:
        """Record the outcome (the table loaded once, before sessions can see it)."""
        if table_at is not None:
            try:
                self._landed[key] = load_calibration(table_at)
            except (ValueError, OSError) as error:
                status, detail = "failed", f"the fitted table does not load: {error}"
        with self._cond:
            self._status[key] = status
            self._cond.notify_all()
        self._on_event(CalibrationEvent(key, name, status, detail, secs))


def fit_in_worker(portrait: Portrait, folder: str, recipe: FitRecipe,
                  report: Connection) -> None:
    """The worker process: lowest priority, one thread, the fit; an error goes back as
    text through `report` (with exit code 1), success as nothing (exit code 0)."""
    _lower_priority(0)  # also when started by something other than PortraitCalibrator
    try:
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        fit_portrait_calibration(portrait, Path(folder), runs=recipe.runs, progress=False,
                                 members=recipe.members, steps=recipe.steps)
    except BaseException:
        report.send(traceback.format_exc()[-MAX_REPORT_CHARS:])
        report.close()
        raise SystemExit(1) from None
    report.close()


def _read_report(receive: Connection) -> str | None:
    """The worker's error text, or None: it sent nothing (success, or it was killed)."""
    try:
        return receive.recv() if receive.poll() else None
    except (EOFError, OSError):  # poll() is also true at EOF: the worker died silently
        return None
    finally:
        receive.close()


def _lower_priority(pid: int) -> None:
    """Renice process `pid` (0: this one) to the lowest priority, where the OS allows."""
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, LOWEST_PRIORITY)
        except OSError:  # already gone, or a platform that refuses: the fit still runs
            pass


def _log_event(event: CalibrationEvent) -> None:
    """Default `on_event`: stdlib logging (the server passes its own logger)."""
    level = logging.WARNING if event.status == "failed" else logging.INFO
    _log.log(level, "portrait %s calibration %s %s", event.name, event.status, event.detail)


__all__ = ["CalibrationEvent", "FitRecipe", "PortraitCalibrator", "fit_in_worker"]
