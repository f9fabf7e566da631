"""Our websocket protocol's events about the face (sdk/protocol.py), sent as urgent
transport messages: `metrics`, `video-quality`, `portrait` and `error`.

Opt-in, as a library should be: a pipecat app gets none unless it asks
(`send_metrics`, `send_events`); our own server turns both on for its clients. The
portrait requests of our protocol (`PortraitRequestFrame`: a name or an upload) are
answered here too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import Frame, OutputTransportMessageUrgentFrame

from avatar.errors import AvatarError
from avatar.live.quality import QualityChange
from avatar.portrait import Portrait
from sdk.protocol import ErrorCode, MetricsEvent, PortraitEvent, VideoQualityEvent, error_event


class ProtocolEvents:
    """Builds and sends the face's protocol events through `push`."""

    def __init__(self, push: Callable[[Frame], Awaitable[None]], *, metrics: bool,
                 events: bool) -> None:
        self._push = push
        self.metrics = metrics
        self.events = events

    async def send(self, event: Any) -> None:
        """An event, as an urgent transport message, when it was asked for."""
        if not (self.events or (self.metrics and isinstance(event, MetricsEvent))):
            return
        await self._push(OutputTransportMessageUrgentFrame(
            message=event.model_dump(exclude_none=True)))

    async def stats(self, values: dict[str, float | int | str]) -> None:
        await self.send(MetricsEvent(kind="avatar", processor="avatar", values=values))

    async def error(self, code: ErrorCode, message: str, *, fatal: bool = False) -> None:
        await self.send(error_event(code, message, fatal=fatal))

    async def quality_changed(self, change: QualityChange, levels: int) -> None:
        quality = change.quality
        await self.send(VideoQualityEvent(
            width=quality.size, height=quality.size, drawn_fps=quality.drawn_fps,
            camera_fps=quality.camera_fps, level=change.level, levels=levels,
            direction=change.direction, reason=change.reason))

    async def answer_portrait_request(
            self, name: str | None, upload: bytes | None,
            load: Callable[[str | None, bytes | None], Awaitable[Portrait]] | None,
            show: Callable[[Portrait], Awaitable[None]]) -> None:
        """A client asked for a portrait by name or sent one: `load` it (None: this
        server does not switch portraits), `show` it, and say so, or say why not."""
        if load is None:
            await self.error(ErrorCode.UNKNOWN_PORTRAIT, "this server does not switch portraits")
            return
        try:
            portrait = await load(name, upload)
            await show(portrait)
        except (AvatarError, KeyError, ValueError) as error:
            code = ErrorCode.UNKNOWN_PORTRAIT if name is not None else ErrorCode.BAD_PORTRAIT
            logger.info(f"portrait refused: {error}")
            await self.error(code, f"{error}; the current portrait stays")
            return
        await self.send(PortraitEvent(name=portrait.name))


__all__ = ["ProtocolEvents"]
