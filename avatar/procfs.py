"""What Linux's /proc says about a process: its memory (RSS, PSS), its CPU seconds, its
command, threads and open files, and the processes below it.

Why one module: the server's memory gauges, the fleet's memory ceiling, the generator's
soak and the benches all read the same few files. Here is the one reading, so a gauge and a bench agree on what "the server's memory" is. In
avatar/, the lowest layer, so every package may import it (avatar/ imports none of
the others).

Every reader takes a pid (or "self") and is safe on a process that is gone or a
system without /proc: it answers 0, None or nothing, and never raises.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: the /proc entry of a process: its pid, or "self" for the caller
Pid = int | str

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def _read(pid: Pid, name: str) -> str | None:
    try:
        return (PROC / str(pid) / name).read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _stat_fields(pid: Pid) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses):
    [0] state, [1] parent pid, [11] utime, [12] stime, [13] cutime, [14] cstime..."""
    stat = _read(pid, "stat")
    return [] if stat is None else stat.rsplit(")", 1)[-1].split()


def rss_bytes(pid: Pid = "self") -> int:
    """Resident set of a process, bytes (the kernel's VmRSS); 0 when it is gone."""
    statm = _read(pid, "statm")
    try:
        return int(statm.split()[1]) * PAGE_BYTES if statm else 0
    except (IndexError, ValueError):
        return 0


def smaps_rollup(pid: Pid = "self") -> dict[str, int]:
    """/proc/PID/smaps_rollup in bytes by field ("Rss", "Pss", "Private_Clean",
    "Private_Dirty", ...); empty when it is gone or the kernel has none."""
    text = _read(pid, "smaps_rollup")
    fields: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[key.strip()] = int(parts[0]) * 1024
    return fields


def pss_bytes(pid: Pid = "self") -> int:
    """Proportional set of a process, bytes: its private pages and its share of the
    pages it shares (forked workers share their fork server's), so a sum over a
    process tree counts each page once; 0 when it is gone."""
    return smaps_rollup(pid).get("Pss", 0)


def cpu_seconds(pid: Pid = "self", *, reaped_children: bool = False) -> float | None:
    """User + system CPU seconds of a process, all its threads; with `reaped_children`
    also what its exited, waited-for children used. None when it is gone."""
    fields = _stat_fields(pid)
    if len(fields) < 15:
        return None
    last = 15 if reaped_children else 13
    return sum(int(value) for value in fields[11:last]) / CLOCK_TICKS


def process_parents() -> dict[int, int]:
    """Every live process's parent (pid -> parent pid), read once."""
    parents: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir(PROC):
            if entry.isdigit():
                fields = _stat_fields(entry)
                if len(fields) > 1:
                    parents[int(entry)] = int(fields[1])
    return parents


def descendants(pid: int, parents: dict[int, int] | None = None) -> list[int]:
    """Every live process below `pid` (children, their children, ...; not `pid`).
    `parents`: a map read once (`process_parents`) to walk several trees at one moment."""
    parents = process_parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_tree(pid: int, parents: dict[int, int] | None = None) -> list[int]:
    """`pid` and every live process below it."""
    return [pid, *descendants(pid, parents)]


def command_line(pid: Pid) -> list[str]:
    """A process's argv; empty when it is gone (or a kernel thread)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def command_name(pid: Pid) -> str:
    """A process's name as the kernel keeps it (`comm`: 15 characters at most, e.g.
    "raylet", "ray::ServeRepli"); "" when it is gone."""
    return (_read(pid, "comm") or "").strip()


def thread_count(pid: Pid = "self") -> int:
    """Threads of a process (its status's "Threads:"); 0 when it is gone."""
    for line in (_read(pid, "status") or "").splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def thread_ids(pid: Pid = "self") -> list[int]:
    """The kernel ids of a process's threads; empty when it is gone."""
    try:
        return [int(tid) for tid in os.listdir(PROC / str(pid) / "task")]
    except OSError:
        return []


def open_file_count(pid: Pid = "self") -> int:
    """Open file descriptors of a process; 0 when it is gone or not ours to read."""
    try:
        return len(os.listdir(PROC / str(pid) / "fd"))
    except OSError:
        return 0


def memory_maps(pid: Pid = "self") -> list[str]:
    """/proc/PID/maps, one mapping a line; empty when it is gone."""
    return (_read(pid, "maps") or "").splitlines()


def seconds_since_start(pid: Pid = "self") -> float | None:
    """Seconds since a process started, by the kernel's start time (a process that
    re-executed itself counts from its first start); None when it is gone."""
    fields = _stat_fields(pid)
    try:
        uptime = float((PROC / "uptime").read_text().split()[0])
        return uptime - int(fields[19]) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


def thread_run_queue_seconds() -> float:
    """Seconds the calling thread has waited, runnable, for a core (schedstat); 0 where
    the kernel keeps none."""
    try:
        return int((PROC / "thread-self" / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


__all__ = ["CLOCK_TICKS", "PAGE_BYTES", "command_line", "command_name", "cpu_seconds",
           "descendants", "memory_maps", "open_file_count", "process_parents",
           "process_tree", "pss_bytes", "rss_bytes", "seconds_since_start", "smaps_rollup",
           "thread_count",
           "thread_ids", "thread_run_queue_seconds"]
