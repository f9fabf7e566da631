"""`ServerHooks`: what our own server hands the face service, installed with
`service.install(hooks)` (the one seam: server_seam.py).

A pipecat app installs none; our server (pipelines/server/call.py) builds a
session per call and wires the face into its protocol, its load board and its
memory care through it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from avatar.live.capacity import CapacityBoard
from avatar.live.quality import QualityGovernor
from pipelines.face import quiet_moment
from pipelines.face.face_assets import PortraitLoader
from pipelines.face.face_params import FacePacing
from pipelines.face.reply_state import ReplyState


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

    def register(self, governor: QualityGovernor | None, reply: ReplyState | None = None) -> None:
        """The session runs under `governor`: report its load on the board; with our
        server's memory care, its `reply` counts for the quiet moments a collection
        waits for (quiet_moment.py)."""
        if self.capacity is not None and governor is not None:
            self.capacity.register(self.session_key, governor)
        if self.release_memory_after and reply is not None:
            quiet_moment.track(reply)

    def unregister(self) -> None:
        """The session no longer runs (or changes its governor): off the board."""
        if self.capacity is not None:
            self.capacity.unregister(self.session_key)

    def session_ended(self, reply: ReplyState | None = None) -> None:
        """The face closed: with `release_memory_after`, once its pipeline is torn
        down, its cycles are collected and freed pages go back to the OS, at a moment
        no other face is mid-reply (quiet_moment.py)."""
        if reply is not None:
            quiet_moment.forget(reply)
        if self.release_memory_after:
            quiet_moment.collect_when_quiet(asyncio.get_running_loop())
