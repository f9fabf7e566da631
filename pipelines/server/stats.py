"""What this server delivered over the last minutes: turn response time and video rate.

A fleet (fleet/) and any load balancer want more than "up": how fast this
machine answers and how many avatar images it is sending, measured on what its
sessions actually did. `/healthz` reports it under `recent`.

The response time is the server's share of voice-to-voice: from the moment the
server decided the visitor stopped (`user-stopped-speaking`) to the first reply
audio it sent (`bot-started-speaking`). The client adds its own network and
playout delay on top; benchmarks measure the whole (docs/LATENCY.md).
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: how far back the figures look
WINDOW_SECS = 300.0
#: the video rate is measured over this much of the recent past
RATE_SECS = 10.0


class CountsVideo(Protocol):
    """A session's serializer: how many video messages it has sent so far."""

    video_sent: int


@dataclass
class ServerStats:
    """Recent turn response times and the video images sent per second (all sessions)."""

    clock: Callable[[], float] = time.monotonic
    _responses: deque[tuple[float, float]] = field(default_factory=deque)
    _stopped_at: dict[str, float] = field(default_factory=dict)
    _video: dict[str, CountsVideo] = field(default_factory=dict)
    _video_done: int = 0  # video sent by sessions that have ended
    _video_marks: deque[tuple[float, int]] = field(default_factory=deque)

    def listener(self, session_id: str) -> Callable[[dict], None]:
        """The hook a session's event observer calls with every protocol event."""

        def on_event(event: dict) -> None:
            kind, now = event.get("type"), self.clock()
            if kind == "user-stopped-speaking":
                self._stopped_at[session_id] = now
            elif kind == "bot-started-speaking":
                stopped = self._stopped_at.pop(session_id, None)
                if stopped is not None:
                    self._responses.append((now, now - stopped))
                    self._trim(now)
            elif kind == "user-started-speaking":
                # over a reply: a barge-in or a backchannel; the reply already started
                self._stopped_at.pop(session_id, None)

        return on_event

    def track_video(self, session_id: str, serializer: CountsVideo) -> None:
        """Count the images this session's serializer sends, until `end`."""
        self._video[session_id] = serializer

    def end(self, session_id: str) -> None:
        """The session is gone: keep what it sent, forget its state."""
        serializer = self._video.pop(session_id, None)
        if serializer is not None:
            self._video_done += serializer.video_sent
        self._stopped_at.pop(session_id, None)

    def video_total(self) -> int:
        """Video messages sent since the server started."""
        return self._video_done + sum(s.video_sent for s in self._video.values())

    def _trim(self, now: float) -> None:
        while self._responses and now - self._responses[0][0] > WINDOW_SECS:
            self._responses.popleft()

    def report(self) -> dict[str, float | int | None]:
        """`turns`, `response_p50_ms` (None before the first reply) and `video_fps`
        (images per second, all sessions, over the last `RATE_SECS`)."""
        now = self.clock()
        self._trim(now)
        total = self.video_total()
        self._video_marks.append((now, total))
        while len(self._video_marks) > 1 and now - self._video_marks[1][0] >= RATE_SECS:
            self._video_marks.popleft()
        first_at, first_total = self._video_marks[0]
        span = now - first_at
        fps = (total - first_total) / span if span > 0.5 else 0.0
        responses = [secs for _, secs in self._responses]
        return {
            "window_secs": WINDOW_SECS,
            "turns": len(responses),
            "response_p50_ms": round(1000 * statistics.median(responses)) if responses else None,
            "video_fps": round(fps, 1),
            "video_sent": total,
        }
