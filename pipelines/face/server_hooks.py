"""`ServerHooks`: what our own server hands the face service, in one argument.

A pipecat app leaves it out; our server (pipelines/server/session.py) builds a
session per call and wires the face into its protocol, its load board and its
memory care through it."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from avatar.live.capacity import CapacityBoard
from avatar.live.quality import QualityGovernor
from avatar.memory import release_free_memory
from pipelines.face.face_assets import PortraitLoader
from pipelines.face.face_params import FacePacing

#: after a session's shutdown, when its pipeline is torn down: its cycles are collected
COLLECT_AFTER_SECS = 1.0


@dataclass(frozen=True)
class ServerHooks:
    """Our server's hooks into a face service; the defaults are a pipecat app's."""

    #: pacing (None: from the service's settings)
    params: FacePacing | None = None
    #: loads portraits that clients ask for by name or upload (`PortraitRequestFrame`,
    #: our websocket); None: such requests are refused
    load_portrait: PortraitLoader | None = None
    #: counters kept on the wire side, merged into `stats()`
    transport_stats: Callable[[], dict[str, int]] | None = None
    #: adapts quality to the load it meets; None with `adapt_video`: one is built from
    #: the measured costs when the session is
    governor: QualityGovernor | None = None
    #: the server's board of live loads (admission, /healthz), where the session
    #: reports under `session_key` while it runs
    capacity: CapacityBoard | None = None
    session_key: str = ""
    #: also JPEG-encode each image (our websocket sends JPEG); 0: RGB only, as pipecat
    #: transports take it
    jpeg_quality: int = 0
    #: push our protocol's `metrics` events every `stats_interval_secs`
    send_metrics: bool = False
    #: push `video-quality`, `portrait` and `error` events
    send_events: bool = False
    #: after the session, collect its cycles and return freed pages to the OS
    release_memory_after: bool = False

    def register(self, governor: QualityGovernor | None) -> None:
        """The session runs under `governor`: report its load on the board."""
        if self.capacity is not None and governor is not None:
            self.capacity.register(self.session_key, governor)

    def unregister(self) -> None:
        """The session no longer runs (or changes its governor): off the board."""
        if self.capacity is not None:
            self.capacity.unregister(self.session_key)

    def session_ended(self) -> None:
        """The face closed: with `release_memory_after`, once its pipeline is torn
        down, its cycles are collected and freed pages go back to the OS."""
        if self.release_memory_after:
            asyncio.get_running_loop().call_later(COLLECT_AFTER_SECS, _collect_ended_session)


def _collect_ended_session() -> None:
    """A full garbage collection, then the freed pages back to the OS: an ended
    session's pipeline is a web of reference cycles that only a full collection
    frees (docs/LIVE_AVATAR.md); the server froze what it loaded before serving."""
    started = time.perf_counter()
    found = gc.collect()
    release_free_memory()
    logger.debug(f"after a session: {found} objects collected in "
                 f"{(time.perf_counter() - started) * 1000:.0f} ms")
