"""The kiosk's presence for the face service: who is in front, from the camera and
the voice, acted on in order by one task (docs/KIOSK.md).

Installed on a face by whoever runs a kiosk, our server or a pipecat app:

    face = AvatarForcingVideoService()
    face.install(presence=KioskPresence(KioskSettings(away_secs=20.0)))

The service feeds it through its seam (pipelines/face/server_seam.py) and raises the
pipecat events it asks for (`on_visitor_arrived`, ...)."""

from __future__ import annotations

import asyncio

import numpy as np
from loguru import logger

from avatar.live.presence import PresenceChange, PresenceState
from pipelines.face.face_host import FaceHost
from pipelines.kiosk.visitor_watch import TICK_SECS, VisitorWatch
from pipelines.settings import KioskSettings
from sdk.protocol import PresenceEvent, VisitorArrived, VisitorLeft


class KioskPresence:
    """Presence changes queued from the camera, the voice and a tick; one task acts on
    each in order: attract mode, a smile for an arrival, events and the app's handlers.
    One face's (the `Presence` of pipelines/face/server_seam.py)."""

    def __init__(self, kiosk: KioskSettings) -> None:
        self.visitors = VisitorWatch(kiosk)
        self._face: FaceHost | None = None
        self._changes: asyncio.Queue[PresenceChange] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def nobody_there(self) -> bool:
        """Nobody is in front (attract mode)."""
        return self.visitors.nobody_there

    @property
    def _service(self) -> FaceHost:
        assert self._face is not None, "the presence has not started"
        return self._face

    def quiet(self) -> bool:
        """Nobody is there and the kiosk idles quietly (`[kiosk] quiet_when_away`): the
        state the client is told, so the page and the server agree."""
        return self.visitors.kiosk.quiet_when_away and self.visitors.nobody_there

    def note(self, change: PresenceChange | None) -> None:
        """Queue a change (None: nothing changed)."""
        if change is not None:
            self._changes.put_nowait(change)

    def camera(self, motion: np.ndarray | None) -> None:
        self.note(self.visitors.camera(motion))

    def voice(self, speaking: bool) -> None:
        self.note(self.visitors.voice(speaking))

    def camera_lost(self) -> None:
        logger.warning("avatar: presence goes on from the voice alone (no camera)")
        self.note(self.visitors.camera_lost())

    def start(self, face: FaceHost) -> None:
        """`face` runs: watch until the session stops."""
        self._face = face
        self._task = face.create_task(self._watch(), name="avatar-presence")

    async def stop(self) -> None:
        if self._task is not None:
            await self._service.cancel_task(self._task)
            self._task = None

    async def _watch(self) -> None:
        """Attract mode from the start, the tracker ticked, each change acted on."""
        clock = self._service.clock
        if self.visitors.nobody_there:
            await clock.quality.hold(self.visitors.attract)
        while True:
            try:
                async with asyncio.timeout(TICK_SECS):  # no task made per wait
                    change = await self._changes.get()
            except TimeoutError:
                self.note(self.visitors.tick())
                continue
            await self._on_change(change)

    async def _on_change(self, change: PresenceChange) -> None:
        """Attract mode off at the first sign of someone (the greeting is drawn at full
        quality) and on when nobody is left; a smile for an arrival; the protocol's
        events and the app's handlers."""
        service = self._service
        logger.info(f"avatar: presence {change.previous.value} -> {change.state.value} "
                    f"({change.reason})")
        if change.state is PresenceState.AWAY:
            await service.clock.quality.hold(self.visitors.attract)
        elif change.previous is PresenceState.AWAY:
            await service.clock.quality.hold(None)
        if change.arrived:
            service.session.welcome_visitor()
        if change.left:
            service.session.push_user_motion(None)  # nothing of this visitor's face stays
        events = service.events
        await events.send(PresenceEvent(state=change.state.value,
                                        previous=change.previous.value, reason=change.reason))
        await service._call_event_handler("on_presence_changed", change)
        if change.arrived:
            await events.send(VisitorArrived(reason=change.reason))
            await service._call_event_handler("on_visitor_arrived", change)
        if change.left:
            await service._call_event_handler("on_visitor_left", change)
            await events.send(VisitorLeft(reason=change.reason,
                                          away_secs=self.visitors.kiosk.away_secs))


__all__ = ["KioskPresence"]
