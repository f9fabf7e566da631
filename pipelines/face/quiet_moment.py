"""When a pause of the whole server process hurts no conversation: no live face is
mid-reply or waiting for one.

Why: after a session ends our server runs a full garbage collection (its pipeline is
a web of reference cycles). The collection holds the interpreter lock for its whole
length, and every other session's WebRTC voice waits for it: a late voice makes the
browser's audio buffer grow and its own lip sync slip (docs/PIPECAT.md). So the
collection waits for a moment when no live face is voicing a reply or thinking one
up (`quiet`), at most `MAX_DEFER_SECS`.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Callable

from loguru import logger

from avatar.memory import release_free_memory
from pipelines.face.reply_state import ReplyState

#: after a session's shutdown, when its pipeline is torn down: its cycles are collected
COLLECT_AFTER_SECS = 1.0
#: how often a deferred collection looks for a quiet moment
QUIET_POLL_SECS = 0.2
#: a collection waits at most this long for one (memory must come back in the end)
MAX_DEFER_SECS = 30.0

#: the replies of the faces live in this process
_live: weakref.WeakSet[ReplyState] = weakref.WeakSet()
#: the loop a collection is pending on (None: none pending)
_pending_on: asyncio.AbstractEventLoop | None = None


def track(reply: ReplyState) -> None:
    """A face went live: its reply counts for `quiet` until `forget`."""
    _live.add(reply)


def forget(reply: ReplyState) -> None:
    """A face ended: its reply no longer counts."""
    _live.discard(reply)


def quiet() -> bool:
    """No live face is voicing a reply or waiting for one to be thought up."""
    return not any(reply.in_reply or reply.thinking() for reply in list(_live))


def collect_when_quiet(loop: asyncio.AbstractEventLoop,
                       collect: Callable[[], None] | None = None) -> None:
    """Run `collect` (a full collection, then freed pages back to the OS) on `loop`
    COLLECT_AFTER_SECS from now or, if a face is mid-reply then, at the first quiet
    moment within MAX_DEFER_SECS. Several ended sessions share one pending collection
    (on a loop that still runs: one closed meanwhile took its pending call with it)."""
    global _pending_on
    if _pending_on is loop and not loop.is_closed():
        return
    _pending_on = loop
    deadline = time.monotonic() + COLLECT_AFTER_SECS + MAX_DEFER_SECS
    run = collect or collect_garbage

    def attempt() -> None:
        global _pending_on
        if quiet() or time.monotonic() >= deadline:
            _pending_on = None
            run()
        else:
            loop.call_later(QUIET_POLL_SECS, attempt)

    loop.call_later(COLLECT_AFTER_SECS, attempt)


def collect_garbage() -> None:
    """A full garbage collection, then the freed pages back to the OS; the server
    froze what it loaded before serving, so this scans only what sessions made."""
    started = time.perf_counter()
    found = gc.collect()
    release_free_memory()
    logger.debug(f"after a session: {found} objects collected in "
                 f"{(time.perf_counter() - started) * 1000:.0f} ms"
                 + ("" if quiet() else " (no quiet moment came: a face was mid-reply)"))


__all__ = ["COLLECT_AFTER_SECS", "MAX_DEFER_SECS", "collect_when_quiet", "forget", "quiet", "track"]
