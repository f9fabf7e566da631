"""How many more live avatars this machine can take, from what its sessions measure.

Admission used to be a number set by hand (`max_sessions`). Here it is the same
live measure the sessions adapt on (avatar/live/quality.py): every running
session's governor knows how busy its worker is at its current level, and so
what it would cost at the floor level (256 px, camera 5/s, every frame drawn).
A new session is admitted when all sessions, the new one included, fit the
cores the avatars may use at the floor; otherwise it is refused with a reason
(close 1013), because taking it would push the running ones below their floor.

Loads are shares of one core of worker *wall* time: on a busy machine a worker
waits for a core, its jobs take longer, and the measure grows with the load the
session meets, not only with what it computes. The same report (`slots`) is
what a fleet scheduler reads per machine.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from avatar.live.quality import QualityGovernor

#: cores kept for the voice pipeline (whisper, the LLM, piper, VAD) on any machine
VOICE_RESERVE_CORES = 1.0


@dataclass(frozen=True)
class CapacityReport:
    """A snapshot for `/healthz`, metrics and admission."""

    sessions: int
    capacity: float  # cores the avatars may use
    load: float  # the sessions' measured worker load now (cores)
    floor_load: float  # the same sessions at their floor level (cores)
    per_session: float  # what one more session costs at the floor (cores)
    slots: int  # sessions this machine can still take at the floor
    levels: tuple[int, ...]  # each session's quality level (0 = as asked)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (rounded) for `/healthz`."""
        return {"sessions": self.sessions, "capacity_cores": round(self.capacity, 2),
                "load_cores": round(self.load, 3), "floor_load_cores": round(self.floor_load, 3),
                "per_session_cores": round(self.per_session, 3), "slots": self.slots,
                "levels": list(self.levels)}


class CapacityBoard:
    """The live sessions' governors, turned into slots (thread-safe)."""

    def __init__(self, probe_floor_cores: float, *, cores: float | None = None,
                 reserve_cores: float = VOICE_RESERVE_CORES) -> None:
        """`probe_floor_cores`: one session's floor cost from the start-up probe,
        used until a running session has measured its own."""
        cores = float(cores if cores is not None else (os.cpu_count() or 1))
        self._reserve = reserve_cores
        self.capacity = max(0.5, cores - reserve_cores)
        self._probe_floor = probe_floor_cores
        self._governors: dict[str, QualityGovernor] = {}
        self._pending: set[str] = set()  # admitted, not yet running
        self._lock = threading.Lock()

    def for_cores(self, cores: float) -> CapacityBoard:
        """A new, empty board for a machine whose avatars and voice share `cores`
        cores (a fleet machine's Ray CPUs, not every core the host has)."""
        return CapacityBoard(self._probe_floor, cores=cores, reserve_cores=self._reserve)

    def register(self, key: str, governor: QualityGovernor) -> None:
        """A session started adapting."""
        with self._lock:
            self._pending.discard(key)
            self._governors[key] = governor

    def unregister(self, key: str) -> None:
        """A session ended, or never started (idempotent)."""
        with self._lock:
            self._pending.discard(key)
            self._governors.pop(key, None)

    def report(self, now: float | None = None) -> CapacityReport:
        """The machine's live capacity for avatar sessions."""
        now = time.monotonic() if now is None else now
        with self._lock:
            governors = dict(self._governors)
            pending = len(self._pending)
        floors, loads, levels = [], [], []
        for governor in governors.values():
            floor = governor.floor_load(now)
            floors.append(floor if floor else self._probe_floor)  # 0: nothing measured
            loads.append(governor.steady_busy(now))
            levels.append(governor.level)
        per_session = max(floors) if floors else self._probe_floor
        floors += [per_session] * pending  # admitted, starting: priced like the others
        free = self.capacity - sum(floors)
        slots = max(0, int(free / per_session + 1e-9)) if per_session > 0 else 0
        return CapacityReport(len(governors) + pending, self.capacity, sum(loads), sum(floors),
                              per_session, slots, tuple(levels))

    def admit(self, key: str, now: float | None = None) -> tuple[bool, str]:
        """Whether one more video session fits, and why (the refusal's text). An
        admitted session holds its place as `key` until it registers or leaves."""
        report = self.report(now)
        admitted = report.sessions == 0 or report.slots >= 1
        if admitted:
            with self._lock:
                self._pending.add(key)
            return True, (f"{report.slots} slot(s) free" if report.sessions else
                          "no other session: it adapts to the machine as it is")
        return False, (f"this machine is at its capacity for live avatars: {report.sessions} "
                       f"session(s) would need {report.floor_load + report.per_session:.2f} of "
                       f"{report.capacity:.2f} cores at their floor (256 px, camera 5/s, 25 "
                       "images/s); try again later")


#: Sessions per face worker process chosen for a machine with more sessions than cores.
AUTO_FACES_PER_WORKER = 3


def warm_workers_for(asked: int, board: CapacityBoard) -> int:
    """How many face workers to keep warm: what the settings ask, but never more than
    the sessions this machine can take at the floor (at least one when any are
    asked). Each idle worker holds ~200 MB and ~1 s of a core to start; a worker
    kept for a session the machine would refuse is memory spent on nothing."""
    if asked <= 0:
        return 0
    return min(asked, max(1, board.report().slots))


def faces_per_worker_for(asked: int, board: CapacityBoard, cores: int | None = None) -> int:
    """Sessions per face worker process: what the settings ask, or (0) three where the
    machine admits more sessions than it has cores, else one. Three drew the most faces
    on 16 cores, at 124 MB a face; four were held back by their process
    (docs/FLEET.md, "Faces per worker")."""
    if asked > 0:
        return asked
    cores = cores or os.cpu_count() or 1
    return AUTO_FACES_PER_WORKER if board.report().slots > cores else 1


__all__ = ["AUTO_FACES_PER_WORKER", "CapacityBoard", "CapacityReport", "VOICE_RESERVE_CORES",
           "faces_per_worker_for",
           "warm_workers_for"]
