"""bench/live/live.py --no-hold-too: the three arms take turns asking first on the same
questions, the usual figures stay the held face's, and the comparison reads each arm
apart (benchkit/live/live_phases.py `alternation`, benchkit/live/camera_hold_arms.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from benchkit.live.camera_hold_arms import hold_against_none, plot_hold, split_arms, window_cores
from benchkit.live.live_phases import alternation


def test_two_arms_alternate_as_before() -> None:
    assert alternation(8, 4, ("face", "voice")) == [
        ("face", [0, 1, 2, 3]), ("voice", [1, 2, 3, 0]),
        ("voice", [4, 5, 6, 7]), ("face", [5, 6, 7, 4])]


def test_three_arms_ask_the_same_questions_each_first_as_often() -> None:
    arms = ("face", "voice", "face_no_hold")
    plan = alternation(18, 3, arms)
    assert len(plan) == 18
    for arm in arms:
        asked = sorted(q for a, order in plan if a == arm for q in order)
        assert asked == list(range(18)), arm
    firsts = Counter(plan[k][0] for k in range(0, len(plan), 3))
    assert firsts == {arm: 2 for arm in arms}
    # within a block no two sessions ask the same question in the same place
    for k in range(0, len(plan), 3):
        assert len({tuple(order)[0] for _, order in plan[k:k + 3]}) == 3


def _row(arm: str, question: str, v2v: float, at: float) -> dict[str, Any]:
    return {"arm": arm, "question": question, "video": arm != "voice",
            "voice_to_voice_ms": v2v, "at": {"speech_end": at, "first_audio": at + v2v / 1000}}


class _Turn:
    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row


def test_the_unheld_arm_is_kept_apart_and_compared(tmp_path: Path) -> None:
    rows = [_row("face", "a", 600, 0), _row("voice", "a", 500, 10), _row("face_no_hold", "a", 660, 20),
            _row("face", "b", 640, 30), _row("voice", "b", 540, 40), _row("face_no_hold", "b", 700, 50)]
    sessions = [{"arm": "face", "video": True, "process_cpu_percent": 60.0, "camera_frames_held": 9},
                {"arm": "voice", "video": False, "process_cpu_percent": 30.0, "camera_frames_held": 0},
                {"arm": "face_no_hold", "video": True, "process_cpu_percent": 64.0,
                 "camera_frames_held": 0}]
    main, unheld = split_arms({"turns": [_Turn(r) for r in rows], "sessions": sessions,
                               "barge_ins": []})
    assert [t.row["arm"] for t in main["turns"]] == ["face", "voice", "face", "voice"]
    assert [s["arm"] for s in main["sessions"]] == ["face", "voice"]
    assert main["barge_ins"] == []
    assert [t.row["arm"] for t in unheld["turns"]] == ["face_no_hold"] * 2

    def secs(start: float, end: float) -> dict[str, float]:  # the server at half a core
        return {"server": 0.5 * (end - start), "client": 0.1 * (end - start)}

    compared = hold_against_none(rows, sessions, secs)
    assert compared["voice_to_voice_ms_p50"] == {"face": 620.0, "face_no_hold": 680.0,
                                                 "voice": 520.0}
    assert compared["avatar_adds_ms_p50"] == {"face": 100.0, "face_no_hold": 160.0}
    assert compared["hold_over_no_hold"] == round(620 / 680, 3)
    low, high = compared["hold_over_no_hold_interval_90"]
    assert low <= compared["hold_over_no_hold"] <= high
    assert compared["process_cpu_percent_sessions_p50"] == {
        "face": 60.0, "face_no_hold": 64.0, "voice": 30.0}
    assert compared["v2v_window_cores"]["face"] == {"server": 0.5, "client": 0.1}
    assert compared["camera_frames_held_per_session"] == {"face": [9], "face_no_hold": [0]}
    plot_hold(compared, tmp_path / "hold.png", "a note")
    assert (tmp_path / "hold.png").stat().st_size > 0


def test_window_cores_skip_a_turn_without_a_reply() -> None:
    rows = [{"at": {"speech_end": 1.0, "first_audio": None}}]
    assert window_cores(rows, lambda start, end: {"server": end - start}) is None
