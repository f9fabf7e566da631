"""Keep a long-running live-avatar process from growing session after session (glibc).

Why (issue 27). A kiosk server's RSS grew 4-15 MB with every short video session
and never came back, though nothing was left alive: after 30 sessions
tracemalloc's diff from session 10 to 30 was under 1 MB of Python objects, one
`AvatarSession` and no `CameraMotion` were alive (objgraph), and threads and
open files stayed flat. /proc/PID/smaps put the whole growth in glibc's
per-thread malloc arenas (the anonymous 64 MiB heaps: 270 -> 343 MB from
session 10 to 26, the main heap and every other mapping unchanged).

The cause is glibc's *dynamic* mmap threshold. Blocks of 128 KiB and more start
out as their own mmap, given back to the OS when freed; but the first time such
a block is freed, glibc raises the threshold to its size (up to 32 MiB). A
live session frees large blocks all the time (RGB frames of 0.2-0.8 MB,
JPEGs, the renderer's and the generator's per-session tables, mediapipe's
tensors), so from then on those come out of the arena heaps. Freed, they
leave holes between long-lived blocks, and a non-main arena's heap only
shrinks from its top: every session leaves its high-water mark behind, in
whichever arenas its threads used. Measured in one process (in-process server,
30 sessions with a camera, RSS from session 10 on): default 2.5-4 MB a session;
`MALLOC_ARENA_MAX=2` flat (but it has to be set before the process starts);
`mallopt(M_ARENA_MAX)` at run time no effect (the arenas exist by then);
reusing the worker threads no effect; `malloc_trim` after each session about
half; a fixed threshold 0.2-0.7 MB a session and flattening.

So `pin_mmap_threshold` fixes the threshold at glibc's own initial value: large
blocks stay mmaps, freed back at once, whatever was freed before. It takes
effect at once for every thread and arena, so calling it when the live avatar
starts (not only at process start) is enough. `release_free_memory` gives the
pages that a finished session freed back to the OS (glibc's `malloc_trim`),
so an idle server's RSS says what it really holds.

Both are no-ops off glibc (musl, macOS) and when the user set glibc's own
environment variable for the threshold (their choice wins).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
import threading

from loguru import logger

#: mallopt parameter number (glibc malloc.h)
M_MMAP_THRESHOLD = -3
#: glibc's own initial threshold (DEFAULT_MMAP_THRESHOLD_MIN): only its rise is stopped
MMAP_THRESHOLD_BYTES = 128 * 1024

_lock = threading.Lock()
_pinned = False


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (mallopt and malloc_trim are glibc's), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (which also stops its dynamic rise); once per
    process. True when the threshold is pinned (now or before)."""
    global _pinned
    with _lock:
        if _pinned:
            return True
        libc = _glibc()
        if libc is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
            return False
        _pinned = bool(libc.mallopt(M_MMAP_THRESHOLD, int(threshold)))
        if not _pinned:
            logger.warning("mallopt(M_MMAP_THRESHOLD) failed: RSS may grow with each session")
        return _pinned


def release_free_memory() -> bool:
    """Give free heap pages of every arena back to the OS (glibc `malloc_trim(0)`;
    it walks the arenas, a few ms: call it off the event loop). True when some
    memory was released."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
