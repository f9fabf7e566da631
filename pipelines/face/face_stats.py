"""A face session's counters and timings as one flat dict: what our protocol's
`metrics` events carry, what `/healthz`-style tools and the tests read.

These are our own figures (render and block times, the worker process's hand-over,
the quality level); pipecat's metrics frames are in face_metrics.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from avatar.live import AvatarSession
from avatar.live.face_pool import WorkerFace
from avatar.live.quality import QualityGovernor
from pipelines.face.first_frames import FirstFrames

if TYPE_CHECKING:
    from pipelines.wire.webrtc.output import MediaClockOutput

Stats = dict[str, float | int | str]


@dataclass
class FaceCounters:
    """What a face service, its camera and its clock have done since the session began.

    One object shared by the three (each adds to its own fields); `metrics` events and
    tests read it flat through `as_stats()`. Typed so that a misspelt counter is a
    type error, not a silent new key.
    """

    frames_sent: int = 0
    #: frames whose image repeats the one before (a level drawing one in n, or late)
    frames_repeated: int = 0
    #: of those, repeated because the image came too late to be drawn in time
    frames_repeated_late: int = 0
    late_frames: int = 0  # frames the clock sent after their time
    #: images not pushed to a live video output whose schedule would show them late
    images_dropped_for_sync: int = 0
    idle_frames_skipped: int = 0  # frames not generated while nobody is there
    stale_frames_silenced: int = 0  # a reply's frames sent after an interruption, muted
    rebases: int = 0  # the clock fell behind and started again from now
    camera_analysed: int = 0
    camera_skipped: int = 0  # camera images dropped by the camera's rate or a pause
    camera_errors: int = 0
    interruptions: int = 0
    reply_pauses: int = 0  # a reply paused while the user may be barging in
    quality_changes: int = 0  # level changes of the quality governor
    face_restarts: int = 0  # the face rebuilt after its worker failed
    settings_updates: int = 0  # runtime settings applied to a live session
    grid_realigned: int = 0  # the frame grid moved onto the batched workers' grid
    quiet_blocks: int = 0  # blocks sent whole while nobody was there (face_clock.py)
    #: idle frames left out while the transport held audio the clock had caught up
    idle_frames_drained: int = 0
    #: idle frames that repeated the last image in the hold while the reply was thought up
    frames_held_thinking: int = 0
    #: idle frames left out whole (one in two) while the reply was thought up, so its
    #: first audio may go in their gap (face_clock.py `THOUGHT_UP_GAPS`)
    idle_frames_left_out_thought_up: int = 0
    #: the last reply's way from its first audio to its first frames (the clock's)
    first_frames: FirstFrames = field(default_factory=FirstFrames)

    def as_stats(self) -> dict[str, int | float]:
        """The counters by name, then the last reply's first frames, as `metrics`
        events carry them."""
        values: dict[str, int | float] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "first_frames"}
        return values | self.first_frames.as_stats()


def session_stats(counters: FaceCounters, session: AvatarSession | None, *,
                  worker_cpu_secs: float, started_at: float,
                  governor: QualityGovernor | None, last_played_secs: float,
                  transport_stats: Callable[[], dict[str, int]] | None = None,
                  media_clock: MediaClockOutput | None = None) -> Stats:
    """The counters, then (with a session) its timings, level and transport counters."""
    if session is None:
        return dict(counters.as_stats())
    block_ms = list(session.stats.block_ms) or [0.0]
    render_ms = list(session.stats.render_ms) or [0.0]
    elapsed = max(1e-3, time.monotonic() - started_at)
    face = session.face
    face_cpu = face.cpu_secs if isinstance(face, WorkerFace) else 0.0
    values: Stats = dict(counters.as_stats())
    if isinstance(face, WorkerFace):  # what the hand-over to the worker process costs
        hops = face.hop_ms() or [0.0]
        values["face_process"] = 1
        values["face_pid"] = face.pid or 0
        values["hop_ms_p95"] = round(float(np.percentile(hops, 95)), 2)
    values.update({
        "block_ms_p50": round(float(np.percentile(block_ms, 50)), 2),
        "block_ms_p95": round(float(np.percentile(block_ms, 95)), 2),
        "render_ms_p50": round(float(np.percentile(render_ms, 50)), 2),
        "cpu_percent": round(100.0 * (worker_cpu_secs + face_cpu) / elapsed, 1),
        "render_size": session.options.size,
        "last_reply_played_secs": round(last_played_secs, 2),
        "user_frames_padded": session.stats.user_frames_padded,
        # replies that opened from mouths drawn while they were thought up (hand_over.py)
        "hand_over_replies": session.stats.hand_over_blocks,
    })
    if governor is not None:
        now = time.monotonic()
        quality = governor.quality
        values.update({
            "quality_level": governor.level,
            "camera_fps": quality.camera_fps,
            "drawn_fps": quality.drawn_fps,
            "busy_percent": round(100.0 * governor.busy(now), 1),
            # what the quality the client asked for would cost now (the governor's
            # prediction: it climbs back when this is under its up_busy)
            "asked_busy_percent": round(100.0 * governor.load_at(0, governor.steady_busy(now)), 1),
        })
    if transport_stats is not None:
        values.update(transport_stats())
    if media_clock is not None:
        values.update(media_clock.stats())
    return values


__all__ = ["FaceCounters", "Stats", "session_stats"]
