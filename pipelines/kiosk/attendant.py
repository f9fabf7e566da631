"""The kiosk attendant: a presence session's conversation follows who is in front.

The face (with a `KioskPresence` installed) raises pipecat event handlers as
visitors come and go; this is what our server does with them, and what a pipecat
app can copy:
- `on_visitor_arrived`: the operator's greeting goes through the ordinary TTS path
  (lip-synced; the visitor's first words interrupt it like any reply);
- `on_presence_changed` to leaving, for a visitor who talked with the kiosk and was
  seen walking away: the optional goodbye, while they may still hear it;
- `on_visitor_left`: the reply in flight is dropped and the conversation forgotten
  (`VoiceSession.forget`: the LLM context and what the turn processors keep); the
  client, told by the `visitor-left` event, clears its captions.

With a `VisitTracker` (pipelines/kiosk/visit_metrics.py) each of these is also
counted for the operator's /metrics: arrivals, greetings, departures, and the
visit's turns and answers, counted before the conversation is forgotten.
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from pipecat.frames.frames import InterruptionWorkerFrame, TTSSpeakFrame

from avatar.live.presence import PresenceChange, PresenceState
from pipelines.face.video_service import AvatarForcingVideoService
from pipelines.kiosk.visit_metrics import VisitTracker, VisitWords
from pipelines.settings.sections import KioskSettings
from pipelines.voice_pipeline import VoiceSession


def visitor_spoke(voice: VoiceSession) -> bool:
    """The visitor said something in this conversation (a user message is in context)."""
    return any(isinstance(m, dict) and m.get("role") == "user"
               for m in voice.context.get_messages())


def attend_visitors(face: AvatarForcingVideoService, voice: VoiceSession,
                    kiosk: KioskSettings, *, session_id: str = "",
                    visits: VisitTracker | None = None) -> None:
    """Greet, say goodbye and forget as `face` sees visitors come and go (and count
    the visits in `visits`)."""
    log = logger.bind(session=session_id)

    @face.event_handler("on_visitor_arrived")
    async def _greet(_face: Any, change: PresenceChange) -> None:
        log.info(f"[{session_id}] a visitor arrived ({change.reason})")
        if visits is not None:
            visits.arrived(greeted=bool(kiosk.greeting))
        if kiosk.greeting:
            await voice.task.queue_frame(TTSSpeakFrame(kiosk.greeting))

    @face.event_handler("on_presence_changed")
    async def _goodbye(_face: Any, change: PresenceChange) -> None:
        if visits is not None:
            visits.presence(change.state.value, change.previous.value)
        if (kiosk.goodbye and change.state is PresenceState.LEAVING
                and change.previous is PresenceState.ENGAGED and change.receding
                and visitor_spoke(voice)):
            await voice.task.queue_frame(TTSSpeakFrame(kiosk.goodbye))

    @face.event_handler("on_visitor_left")
    async def _forget(_face: Any, change: PresenceChange) -> None:
        await voice.task.queue_frame(InterruptionWorkerFrame())  # the reply in flight
        if visits is not None:
            visits.left(VisitWords.count(list(voice.context.get_messages()), kiosk.greeting))
        await voice.forget()
        log.info(f"[{session_id}] the visitor left ({change.reason}); conversation cleared")


__all__ = ["attend_visitors", "visitor_spoke"]
