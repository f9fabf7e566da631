"""Keep a long-running live-avatar server from growing session after session (glibc).

Why: a kiosk server's RSS grew a few MB with every short video session and never
came back, though nothing of Python's was left alive. The growth was in glibc's
per-thread malloc arenas: glibc gives threads up to 8 arenas per core, a live
server's threads allocate large, short-lived blocks (frames, JPEGs, tensors), and a
non-main arena's heap only shrinks from its top, so each arena keeps the high-water
mark of whatever sessions passed through it.

- `reexec_with_arena_cap`: a server's entry point (pipelines/cli.py) restarts
  itself, before anything loads, with `MALLOC_ARENA_MAX=2` when it is unset. glibc
  reads the variable before the interpreter's first allocation, so no thread gets
  an arena of its own first; a `mallopt` at start-up comes too late for those.
- `limit_malloc_arenas`: the same cap with `mallopt`, for a process that was not
  restarted (the CLI called from Python, the server's start-up); it must run before
  the process's threads first allocate.
- `release_free_memory`: gives back the pages a finished session freed
  (`malloc_trim`), so an idle kiosk's RSS says what it holds.

The rest of the growth was not the allocator: an ended session's pipeline is a web
of reference cycles, so the face service runs a full collection after each session
(pipelines/face/quiet_moment.py, `collect_garbage`) before the trim.

All are no-ops off glibc (musl, macOS), an operator's own MALLOC_ARENA_MAX wins, and
used as a library (tests, another app) our packages re-execute nothing. Measured in
docs/LIVE_AVATAR.md, "All day at a kiosk"; the first diagnosis is in
docs/history/notes_from_code.md.
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
