"""How many glibc malloc arenas a process has, from /proc/PID/maps.

Why: a process whose threads started before `MALLOC_ARENA_MAX` took effect (a Ray
worker: its core threads run before our code is imported, so avatar/memory.py's
`mallopt` comes too late) gets up to 8 arenas per core, and each keeps the
high-water mark of what passed through it (issue 27). A non-main arena is a 64 MiB
aligned anonymous reservation (`HEAP_MAX_SIZE`): its used part (rw-p) and the rest
(---p) start on a 64 MiB boundary together.

A count, not a proof: checked on a toy process (8 threads: 8; with the cap: 1), but
in the server other allocators' 64 MiB-aligned anonymous blocks count too (a fleet
replica started with `MALLOC_ARENA_MAX=2` showed 4, one of them exactly 64 MiB), so
it bounds the arenas from above.
"""

from __future__ import annotations

from avatar.procfs import memory_maps

ARENA_BYTES = 64 << 20


def arena_count(pid: int) -> int:
    """Anonymous rw 64 MiB-aligned regions of `pid`: its non-main malloc arenas and any
    other allocator's aligned blocks (0 when unreadable)."""
    count = 0
    for line in memory_maps(pid):
        fields = line.split()
        if len(fields) != 5:  # anonymous mappings have no path
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if start % ARENA_BYTES == 0 and end - start <= ARENA_BYTES and fields[1] == "rw-p":
            count += 1
    return count
