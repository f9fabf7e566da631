"""Who draws one session's face, and which portrait assets its client holds (no I/O).

A session whose client draws (protocol v2.3, `hello.render`) starts drawn by the
client: its frames go out as motion frames (kind 6), each stamped with the serial of
the assets it needs, and the assets are announced (`assets` event) before the first
frame that needs them, at the start and after each portrait switch. The client answers
`assets-loaded`. The session goes over to pixels, for good, when:

- the client asks (`set-render`: no WebGL2, a lost context, assets that failed to load
  or that the browser refused);
- announced assets are not loaded within `timeout_secs` (a client that claims to draw
  and never does): the `assets_not_loaded` error says so.

Either way the change is logged once and told to the client (`render` event); the
face's worker draws from the next frame on (client_drawn_face.py). The conversation
is untouched: audio and events never wait for any of this.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np
from loguru import logger

from avatar.portrait import Portrait
from pipelines.server.browser_faces import BrowserFace, BrowserFaces
from pipelines.server.client_drawn_face import DrawSwitch
from sdk.protocol import (
    FACE_MOTION_FORMAT,
    AssetsEvent,
    AssetsLoaded,
    ErrorCode,
    RenderEvent,
    SetRender,
    error_event,
)

#: a client that said it draws has this long to load announced assets (s); then pixels
ASSETS_TIMEOUT_SECS = 10.0
#: where the assets are served (app.py: GET /assets/<hash>)
ASSETS_PATH = "/assets/"

Event = dict[str, Any]


def _event(message: Any) -> Event:
    return dict(message.model_dump(exclude_none=True))


class RenderSwitch:
    """One session's drawing: by its client (motion frames) until it goes to pixels."""

    def __init__(self, face: DrawSwitch, faces: BrowserFaces, first: BrowserFace, *,
                 portrait: Callable[[], Portrait], session_id: str = "",
                 timeout_secs: float = ASSETS_TIMEOUT_SECS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`first`: the assets of the portrait the session starts with; `portrait()`:
        the portrait the session shows now (a switch is noticed at the next frame)."""
        self._face = face
        self._faces = faces
        self._portrait = portrait
        self._session_id = session_id
        self.timeout_secs = timeout_secs
        self._clock = clock
        self._serial = 0
        self._announced: dict[str, int] = {}  # assets hash -> serial
        self._loaded: set[str] = set()
        self._current = first
        self._current_serial = 0
        self._shown: Portrait = portrait()
        #: assets being built for a portrait switched to (off the loop)
        self._building: Future[BrowserFace] | None = None
        self._building_for: Portrait | None = None
        #: when the announced assets must have been loaded by (None: they are)
        self._deadline: float | None = None
        #: why the server draws (None while the client does)
        self.pixels_reason: str | None = None
        #: motion frames sent, and held back while a new portrait's assets were built
        self.motion_frames = 0
        self.frames_held = 0

    @property
    def client_draws(self) -> bool:
        """True while the client draws the face (motion frames go out)."""
        return not self._face.drawing

    def welcome(self) -> Event:
        """`welcome.render` of this session."""
        return {"mode": "client", "asset_format": self._current.version,
                "motion_format": FACE_MOTION_FORMAT, "assets_timeout_secs": self.timeout_secs}

    def announce_first(self) -> Event:
        """The `assets` event of the portrait the session starts with (right after `welcome`)."""
        return self._announce(self._current)

    def on_frame(self, motion: np.ndarray) -> tuple[list[Event], tuple[bytes, int] | None]:
        """A frame the face made: events to send first (a new portrait's assets, or the
        switch to pixels), and its motion frame's payload and assets serial (None: no
        motion frame: the client no longer draws, or the new portrait's assets are
        still being built, and the client keeps its last image a moment longer)."""
        if not self.client_draws:
            return [], None
        now = self._clock()
        if self._deadline is not None and now > self._deadline:
            waited = self.timeout_secs
            error = error_event(ErrorCode.ASSETS_NOT_LOADED,
                                f"no assets-loaded within {waited:g} s of the assets event; "
                                "the server draws the face from now on")
            return [_event(error), *self.to_pixels(
                f"the client did not load its assets within {waited:g} s")], None
        events: list[Event] = []
        shown = self._portrait()
        if shown is not self._shown:
            ready = self._switched_to(shown)
            if isinstance(ready, str):  # its export failed: the server draws it
                return self.to_pixels(ready), None
            if ready is None:
                self.frames_held += 1
                return [], None
            self._shown, self._current = shown, ready
            if ready.hash not in self._announced:
                events.append(self._announce(ready))
            else:
                self._current_serial = self._announced[ready.hash]
        payload = self._current.motion_payload(motion)
        self.motion_frames += 1
        return events, (payload, self._current_serial)

    def on_client(self, message: AssetsLoaded | SetRender) -> Event | None:
        """The client's `assets-loaded` or `set-render`: the event to answer, if any."""
        if isinstance(message, SetRender):
            events = self.to_pixels(f"the client asked: {message.reason or 'no reason given'}")
            return events[0] if events else None
        if not self.client_draws:
            return None  # pixels already: what it loaded no longer matters
        if message.id not in self._announced:
            return _event(error_event(
                ErrorCode.BAD_RENDER, f"assets-loaded names {message.id!r}, which this session "
                "never announced; nothing changed"))
        self._loaded.add(message.id)
        if all(asset in self._loaded for asset in self._announced):
            self._deadline = None
        return None

    def to_pixels(self, reason: str) -> list[Event]:
        """From the next frame on the server draws (idempotent: the change happens, is
        logged and is told once)."""
        if not self.client_draws:
            return []
        self._face.draw_pixels()
        self.pixels_reason = reason
        self._deadline = None
        logger.info(f"[{self._session_id}] the face is drawn by the server from now on: {reason}")
        return [_event(RenderEvent(mode="pixels", reason=reason))]

    def _announce(self, face: BrowserFace) -> Event:
        self._serial = self._serial % 0xFFFF + 1
        self._announced[face.hash] = self._serial
        self._current_serial = self._serial
        if face.hash not in self._loaded:
            self._deadline = self._clock() + self.timeout_secs
        return _event(AssetsEvent(portrait=face.portrait, id=face.hash, serial=self._serial,
                                  url=f"{ASSETS_PATH}{face.hash}", format=face.version,
                                  bytes=len(face.data)))

    def _switched_to(self, portrait: Portrait) -> BrowserFace | str | None:
        """The assets of `portrait`, None while they are built (in a thread of their
        own: the frames go on), or why they could not be."""
        if self._building_for is not portrait:
            self._building_for = portrait
            future: Future[BrowserFace] = Future()
            self._building = future
            size = self._current.size

            def build() -> None:
                try:
                    future.set_result(self._faces.get(portrait, size))
                except BaseException as error:  # told below, on the loop
                    future.set_exception(error)

            threading.Thread(target=build, name="browser-assets", daemon=True).start()
        building = self._building
        assert building is not None
        if not building.done():
            return None
        error = building.exception()
        if error is not None:
            return f"the portrait {portrait.name!r} could not be exported for the client: {error}"
        return building.result()


__all__ = ["ASSETS_PATH", "ASSETS_TIMEOUT_SECS", "RenderSwitch"]
