"""A face session's counters and timings as one flat dict: what our protocol's
`metrics` events carry, what `/healthz`-style tools and the tests read.

These are our own figures (render and block times, the worker process's hand-over,
the quality level); pipecat's metrics frames are in face_metrics.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from avatar.live import AvatarSession
from avatar.live.face_pool import WorkerFace
from avatar.live.quality import QualityGovernor

if TYPE_CHECKING:
    from pipelines.wire.webrtc_output import MediaClockOutput

Stats = dict[str, float | int | str]


def new_counters() -> dict[str, int]:
    """The counters a face service, its camera and its clock keep (all zero)."""
    names = ("frames_sent", "frames_repeated", "frames_repeated_late", "late_frames",
             "idle_frames_skipped", "stale_frames_silenced", "rebases", "camera_analysed",
             "camera_skipped", "camera_errors", "interruptions", "reply_pauses",
             "quality_changes", "face_restarts", "settings_updates", "grid_realigned")
    return dict.fromkeys(names, 0)


def session_stats(counters: dict[str, int], session: AvatarSession | None, *,
                  worker_cpu_secs: float, started_at: float,
                  governor: QualityGovernor | None, last_played_secs: float,
                  transport_stats: Callable[[], dict[str, int]] | None = None,
                  media_clock: MediaClockOutput | None = None) -> Stats:
    """The counters, then (with a session) its timings, level and transport counters."""
    if session is None:
        return dict(counters)
    block_ms = list(session.stats.block_ms) or [0.0]
    render_ms = list(session.stats.render_ms) or [0.0]
    elapsed = max(1e-3, time.monotonic() - started_at)
    face = session.face
    face_cpu = face.cpu_secs if isinstance(face, WorkerFace) else 0.0
    values: Stats = dict(counters)
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


__all__ = ["Stats", "session_stats"]
