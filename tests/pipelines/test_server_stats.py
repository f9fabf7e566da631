"""pipelines.server.stats: the turn response time and video rate `/healthz` reports."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.server.stats import WINDOW_SECS, ServerStats


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Serializer:
    video_sent: int = 0


def test_response_time_is_stop_to_first_reply_audio_per_session() -> None:
    clock = Clock()
    stats = ServerStats(clock=clock)
    a, b = stats.listener("a"), stats.listener("b")
    a({"type": "user-stopped-speaking"})
    clock.now += 0.4
    b({"type": "user-stopped-speaking"})
    clock.now += 0.4
    a({"type": "bot-started-speaking"})  # a: 0.8 s
    clock.now += 0.2
    b({"type": "bot-started-speaking"})  # b: 0.6 s
    b({"type": "bot-started-speaking"})  # no stop before it: not a turn
    report = stats.report()
    assert report["turns"] == 2
    assert report["response_p50_ms"] == 700


def test_a_barge_in_is_not_a_turn_and_old_turns_leave_the_window() -> None:
    clock = Clock()
    stats = ServerStats(clock=clock)
    on_event = stats.listener("a")
    assert stats.report()["response_p50_ms"] is None
    on_event({"type": "user-stopped-speaking"})
    on_event({"type": "user-started-speaking"})
    on_event({"type": "bot-started-speaking"})
    assert stats.report()["turns"] == 0
    on_event({"type": "user-stopped-speaking"})
    clock.now += 1.0
    on_event({"type": "bot-started-speaking"})
    assert stats.report()["turns"] == 1
    clock.now += WINDOW_SECS + 1
    assert stats.report()["turns"] == 0


def test_video_rate_counts_live_and_ended_sessions() -> None:
    clock = Clock()
    stats = ServerStats(clock=clock)
    first, second = Serializer(), Serializer()
    stats.track_video("a", first)
    stats.track_video("b", second)
    stats.report()
    clock.now += 2.0
    first.video_sent, second.video_sent = 50, 30
    report = stats.report()
    assert report["video_fps"] == 40.0
    stats.end("a")
    assert stats.video_total() == 80
    clock.now += 2.0
    second.video_sent = 80
    assert stats.report()["video_sent"] == 130
