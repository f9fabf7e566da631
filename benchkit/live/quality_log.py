"""Every level change of a session's face governor, with its cause, as the client saw
it (the welcome's level, then each `video-quality` event), and the level over time
as a plot.

Why here: bench/live/live.py, bench/live/adapt.py and bench/webrtc/webrtc_kiosk.py all report the
changes the same way, so their figures (changes after the first 30 s, per phase)
compare.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol


class LiveSession(Protocol):
    """What the log reads of a live session (benchkit/live/live_client.py's
    `LiveSession`): its client's welcome and the session log's frames and events.
    A protocol, not an import: live_client reports the changes through this module,
    so importing it back would close a circle."""

    @property
    def client(self) -> Any: ...

    @property
    def log(self) -> Any: ...

#: changes in a conversation's first seconds are its start (the machine measured, the
#: level found); the goal counts those after (issue 67: at most one on a quiet machine)
SETTLED_SECS = 30.0
#: the server's log line for a change (pipelines/face/face_quality.py)
LOG_LINE = re.compile(r"(?P<time>\d\d:\d\d:\d\d\.\d+).*avatar quality (?P<direction>down|up) "
                      r"to level (?P<level>\d+): (?P<reason>.*)$")


def quality_timeline(session: LiveSession) -> list[tuple[float, dict[str, Any]]]:
    """(arrival time, quality) from the welcome on: size, camera_fps, drawn_fps, level,
    and for each change its direction and reason."""
    import time

    welcome = session.client.welcome.video_out or {}
    first = session.log.video[0].at if session.log.video else time.monotonic()
    out = [(first, {"size": welcome.get("width"), "camera_fps": welcome.get("camera_fps"),
                    "drawn_fps": 25.0, "level": welcome.get("quality_level", 0)})]
    for at, event in session.log.events:
        if getattr(event, "type", "") == "video-quality":
            out.append((at, {"size": event.width, "camera_fps": event.camera_fps,
                             "drawn_fps": event.drawn_fps, "level": event.level,
                             "direction": event.direction, "reason": event.reason}))
    return out


def level_changes(session: LiveSession, start: float | None = None) -> list[dict[str, Any]]:
    """Each change: seconds from `start` (the first image), the new level and its
    size and rates, the direction and the governor's reason."""
    timeline = quality_timeline(session)
    t0 = timeline[0][0] if start is None else start
    return [{"at_s": round(at - t0, 1), **quality} for at, quality in timeline[1:]]


def changes_summary(changes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How many changes, how many after SETTLED_SECS, and each one's cause."""
    return {"quality_changes": len(changes),
            "quality_changes_after_30s": sum(c["at_s"] > SETTLED_SECS for c in changes),
            "quality_change_log": [{k: c.get(k) for k in ("at_s", "level", "size", "drawn_fps",
                                                          "camera_fps", "direction", "reason")}
                                   for c in changes]}


def changes_from_server_log(path: Path, offset: int = 0) -> list[dict[str, Any]]:
    """The changes the server logged from byte `offset` of its log on (loguru's
    `HH:MM:SS.mmm` time of day, the level, the direction, the reason), for clients
    that keep no events (a browser page)."""
    with path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    out = []
    for line in text.splitlines():
        match = LOG_LINE.search(line.strip())
        if match:
            out.append({"time": match["time"], "level": int(match["level"]),
                        "direction": match["direction"], "reason": match["reason"]})
    return out


def plot_levels(series: dict[str, list[tuple[float, int]]], end_s: float, out: Path,
                title: str, spans: Sequence[tuple[str, float, float, float]] = (),
                levels: Sequence[str] = ()) -> None:
    """The level in force over time (0 = as asked, higher = cheaper), one step line per
    series of (seconds, level) changes; `spans` (name, start, end, shade 0-1) mark
    named stretches (a hog's phases, shaded by how busy);
    `levels` name the ladder's rungs on the axis. A small palette PNG
    (benchkit.bench_args.save_plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchkit.bench_args import save_plot

    figure, axis = plt.subplots(figsize=(8, 3.0))
    for name, span_start, span_end, shade in spans:
        axis.axvspan(span_start, span_end, color="C3", alpha=0.02 + 0.15 * shade)
        axis.axvline(span_start, color="grey", lw=0.5)
        axis.text(span_start + 0.5, -0.45, name, fontsize=7, va="top")
    top = len(levels) - 1
    for k, (name, points) in enumerate(series.items()):
        xs = [0.0] + [at for at, _ in points[1:]] + [end_s]
        ys = [points[0][1]] + [level for _, level in points[1:]] + [points[-1][1]]
        top = max(top, *ys)
        changes = len(points) - 1
        offset = 0.06 * (k - (len(series) - 1) / 2)  # lines on one level stay apart
        axis.step(xs, [y + offset for y in ys], where="post", lw=1.6,
                  label=f"{name}: {changes} change{'s' * (changes != 1)}")
    axis.set_ylim(top + 0.6, -0.6)  # the asked level on top
    if levels:
        axis.set_yticks(range(len(levels)), list(levels), fontsize=7)
    else:
        axis.set_ylabel("level (0 = as asked)")
    axis.set_xlabel("seconds")
    axis.set_title(title, fontsize=9)
    save_plot(figure, axis, out)


__all__ = ["SETTLED_SECS", "changes_from_server_log", "changes_summary", "level_changes",
           "plot_levels", "quality_timeline"]
