"""A face session's kiosk presence: who is there, and the face's cost while nobody is.

The tracker (avatar/live/presence.py) reads the camera analysis the face already
runs and the microphone's VAD. This adds what a live session needs around it:
the clock it is ticked on, and attract mode, the level the face is held at while
nobody is there (256 px, a few images a second, the camera analysed just often
enough to see someone walk up). The first face, or the first words, give the face
back its own level before the visitor engages, so the greeting is drawn at full
quality.
"""

from __future__ import annotations

import time

import numpy as np
from loguru import logger

from avatar.live.presence import (
    PresenceChange,
    PresenceState,
    PresenceTracker,
    Sighting,
)
from avatar.live.quality import FLOOR_SIZE, WIRE_FPS, QualityLevel
from pipelines.settings import KioskSettings

#: how often the tracker's clock-driven transitions are checked (seconds)
TICK_SECS = 0.2


def attract_level(kiosk: KioskSettings) -> QualityLevel:
    """The face's level while nobody is there."""
    stride = max(1, round(WIRE_FPS / kiosk.attract_drawn_fps))
    return QualityLevel(FLOOR_SIZE, kiosk.attract_camera_fps, draw_stride=stride)


class VisitorWatch:
    """One session's presence tracker, fed on the event loop."""

    def __init__(self, kiosk: KioskSettings) -> None:
        self.kiosk = kiosk
        self.tracker = PresenceTracker(kiosk.presence_params())
        self.attract = attract_level(kiosk)
        self.arrivals = 0
        self.departures = 0
        self._camera_live = False  # frames are arriving (said in the log when it changes)

    @property
    def state(self) -> PresenceState:
        """Who is there now."""
        return self.tracker.state

    @property
    def nobody_there(self) -> bool:
        """Attract mode: the face idles cheaply."""
        return self.tracker.state is PresenceState.AWAY

    def camera(self, motion: np.ndarray | None) -> PresenceChange | None:
        """An analysed camera frame (None: no face)."""
        sighting = None if motion is None else Sighting.from_motion(motion)
        return self._count(self.tracker.camera(sighting, time.monotonic()))

    def voice(self, speaking: bool) -> PresenceChange | None:
        """A VAD edge."""
        return self._count(self.tracker.voice(speaking, time.monotonic()))

    def camera_lost(self) -> PresenceChange | None:
        """The camera analysis is off for good: the voice alone decides."""
        return self._count(self.tracker.camera_lost(time.monotonic()))

    def tick(self) -> PresenceChange | None:
        """Clock-driven transitions (leaving -> away after `away_secs`, ...)."""
        now = time.monotonic()
        live = self.tracker.has_camera(now)
        if live != self._camera_live:
            self._camera_live = live
            if live:
                logger.info("presence: camera frames arrive; faces and the voice decide")
            else:
                logger.warning("presence: no camera frame for "
                               f"{self.tracker.params.camera_stale_secs:g} s (none sent, "
                               "refused or undecodable); the voice alone decides")
        return self._count(self.tracker.tick(now))

    def _count(self, change: PresenceChange | None) -> PresenceChange | None:
        if change is not None:
            self.arrivals += change.arrived
            self.departures += change.left
        return change


__all__ = ["TICK_SECS", "VisitorWatch", "attract_level"]
