"""bench/live/live.py's spread of `avatar_adds_ms_p50`: a 90 % interval with the questions
drawn again (each with its turns of both arms) and the figure over each half of the run."""

from __future__ import annotations

from typing import Any

from benchkit.live.live_summary import adds_spread


def _rows(video: bool, values: list[float]) -> list[dict[str, Any]]:
    return [{"video": video, "question": f"q{i % 4}", "voice_to_voice_ms": v}
            for i, v in enumerate(values)]


def test_a_steady_gap_reads_the_same_in_every_draw_and_half() -> None:
    voice = [500.0, 600.0, 700.0, 800.0] * 2
    spread = adds_spread(_rows(True, [v + 40 for v in voice]), _rows(False, voice))
    assert spread["avatar_adds_ms_p50_interval_90"] == [40.0, 40.0]
    assert spread["avatar_adds_ms_p50_by_half"] == [40.0, 40.0]


def test_a_gap_in_one_half_only_widens_the_interval_and_shows_in_its_half() -> None:
    voice = [500.0, 600.0, 700.0, 800.0] * 2
    face = [v + 100 if i < 4 else v for i, v in enumerate(voice)]
    spread = adds_spread(_rows(True, face), _rows(False, voice))
    assert spread["avatar_adds_ms_p50_by_half"] == [100.0, 0.0]
    low, high = spread["avatar_adds_ms_p50_interval_90"]
    assert low < high and 0.0 <= low and high <= 100.0


def test_no_voice_only_turn_gives_no_spread() -> None:
    assert adds_spread(_rows(True, [500.0]), []) == {}
