"""Keep a long-running live-avatar server from growing session after session (glibc).

Why (issue 27). A kiosk server's RSS grew 4-15 MB with every short video session
and never came back, though nothing was left alive: tracemalloc's diff from
session 10 to 30 was under 1 MB of Python objects, one `AvatarSession` and no
`CameraMotion` were alive after 31 sessions (objgraph), and threads and open
files stayed flat. /proc/PID/smaps put the whole growth in glibc's per-thread
malloc arenas (the anonymous 64 MiB heaps: 270 -> 343 MB from session 10 to 26;
the main heap and every other mapping unchanged).

glibc gives threads their own arenas, up to 8 per core, and a live server has
many threads that allocate large, short-lived blocks (frames of 0.2-3 MB in the
avatar worker and the event loop, JPEGs, the per-session renderer and generator
tables, mediapipe's tensors, websocket buffers). Once glibc's dynamic mmap
threshold has risen (it does at the first large free), those blocks come out of
the arenas' heaps; freed, they leave holes between long-lived blocks, and a
non-main arena's heap only shrinks from its top, so each arena keeps the
high-water mark of whatever sessions passed through it. Measured in one process
(in-process server, short sessions with a camera, RSS from session 10 on):

- default: 2.5-4 MB a session, no sign of levelling off;
- one thread pair per session reused across sessions: no change;
- `malloc_trim(0)` after each session: about half;
- `MALLOC_ARENA_MAX=2` in the environment: flat (and 130 MB lower from the start);
- `mallopt(M_ARENA_MAX, 2)` after the models had loaded: no effect (glibc fixes
  its arena limit once more than 8 arenas exist);
- `mallopt(M_ARENA_MAX, 2)` before any thread allocates, plus `malloc_trim`
  after each session: flat, about 720 MB against the default's 1 GB;
- a fixed mmap threshold (128 KiB to 4 MiB) plus the trim: flat too, but every
  large block becomes an mmap: 1800-4300 page faults and +5-12 ms per 512 px
  frame (18 ms without), on a machine whose budget is 40 ms a frame.

So `limit_malloc_arenas` caps the arenas at 2 (glibc's documented setting for
memory-bound servers; on this 2-core machine at most two threads run at once
anyway, so they rarely wait for an arena's lock), and has to run before the
process's threads first allocate: `pipelines/__init__.py` calls it, the first
thing any server process imports. `release_free_memory` gives back the pages a
finished session freed (`malloc_trim`), so an idle kiosk's RSS says what it holds.

The other, larger half of issue 27 was not the allocator: an ended session's
pipeline is a web of reference cycles that Python's full collection frees only
rarely in a big process (those figures were taken with a `gc.collect()` after
each session); the avatar node collects after each session
(pipelines/face/video_service.py, `_collect_ended_session`), then calls
`release_free_memory`.

Both are no-ops off glibc (musl, macOS), and an operator's own MALLOC_ARENA_MAX
wins over the cap.

Issue 47 found `mallopt` early is not as good as the environment variable: a
one-hour soak of the plain server still grew +42 MB/h, while a fleet replica started
with `MALLOC_ARENA_MAX=2` in its environment grew +14 MB/h. glibc reads the variable
before the interpreter's first allocation, so nothing (the interpreter's start-up,
an extension's thread started at import) gets an arena of its own first. A server's
entry point therefore calls `reexec_with_arena_cap`: when the variable is unset it
replaces the process, before anything is loaded, with the same command line and
the variable set. Used as a library (tests, another app) our packages re-execute
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform
import sys
import threading
from collections.abc import Sequence

from loguru import logger

#: mallopt parameter number (glibc malloc.h)
M_ARENA_MAX = -8
#: arenas for the whole process (glibc's default: 8 per core)
ARENA_MAX = 2

#: set in a re-executed process, so a failed cap never loops
REEXEC_MARK = "AVATAR_FORCING_ARENA_REEXEC"

_lock = threading.Lock()
_limited = False


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (mallopt and malloc_trim are glibc's), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = ARENA_MAX) -> bool:
    """Cap glibc's malloc arenas for this process; once. True when the cap is set
    (now or before). Effective only before more than 8 arenas exist (glibc then
    fixes its limit), so call it before the process starts its threads."""
    global _limited
    with _lock:
        if _limited:
            return True
        libc = _glibc()
        if libc is None or "MALLOC_ARENA_MAX" in os.environ:
            return False
        _limited = bool(libc.mallopt(M_ARENA_MAX, int(arenas)))
        if not _limited:
            logger.warning("mallopt(M_ARENA_MAX) failed: RSS may grow with each session")
        return _limited


def arena_cap_environment(environ: dict[str, str] | None = None,
                           arenas: int = ARENA_MAX) -> dict[str, str] | None:
    """The environment a server should run with, or None when this one already
    caps the arenas (an operator's MALLOC_ARENA_MAX wins), was re-executed once
    already, or is not glibc."""
    env = dict(os.environ if environ is None else environ)
    if _glibc() is None or "MALLOC_ARENA_MAX" in env or env.get(REEXEC_MARK):
        return None
    return {**env, "MALLOC_ARENA_MAX": str(int(arenas)), REEXEC_MARK: "1"}


def reexec_with_arena_cap(command_line: Sequence[str] | None = None) -> None:
    """Replace this process with the same command line and `MALLOC_ARENA_MAX` set,
    when it is unset (glibc only; see the module's docstring). Call it first thing in
    a server's entry point, before models load or threads start: everything done
    before it is done twice. Returns only when no re-execution is needed or possible.

    `command_line` defaults to `sys.orig_argv` (the interpreter, its flags, then the
    script or `-m module` and its arguments), so `python -X dev -m x` stays that."""
    env = arena_cap_environment()
    argv = list(sys.orig_argv if command_line is None else command_line)
    if env is None or not argv or not sys.executable:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError as error:  # pragma: no cover - exec of our own interpreter failing
        logger.warning(f"could not re-execute with MALLOC_ARENA_MAX set ({error}); "
                       "capping the arenas with mallopt instead")


def release_free_memory() -> bool:
    """Give free heap pages of every arena back to the OS (glibc `malloc_trim(0)`;
    it walks the arenas, a few ms: call it off the event loop). True when some
    memory was released."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
