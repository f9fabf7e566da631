"""bench/kiosk/presence.py's figures from a session's log: the greeting's parts, the first
full-size image around an arrival (negative when it came first), the walk-away.

Why: the bench runs against a live server for ten minutes; a figure read wrongly
from its log (an image before the arrival, a visitor-left before the last face)
would only show as a wrong number in the JSON.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from benchkit.kiosk.presence_scenes import SceneTruth
from tests.bench.scripts import load_script

BENCH = load_script(Path(__file__).resolve().parents[2] / "bench" / "kiosk" / "presence.py",
                    "_bench_presence_figures")


def _log(events: list[tuple[float, str]], frames: list[tuple[float, int]] = (),
         audio: list[float] = ()) -> object:
    log = BENCH.SessionLog("walk_up")
    log.events = [(at, kind, {}) for at, kind in events]
    log.frames = list(frames)
    log.loud_audio = list(audio)
    return log


TRUTH = SceneTruth(near_frontal_at=5.5, near_frontal_secs=12.0, last_face_at=18.5, no_face=(),
                   speech=((11.0, "What time do you close today?"),))


@pytest.mark.parametrize("width", [256, 512, 640])
def test_jpeg_width_reads_the_frame_header(width: int) -> None:
    ok, jpeg = cv2.imencode(".jpg", np.zeros((width // 2, width, 3), np.uint8))
    assert ok
    assert BENCH.jpeg_width(jpeg.tobytes()) == width
    assert BENCH.jpeg_width(b"\xff\xd8\xff\xe0") == 0


def test_greeting_splits_the_wait_for_the_tracker_from_the_greeting() -> None:
    log = _log([(6.4, "visitor-arrived")], audio=[2.0, 7.3, 7.4])  # 2.0: before the arrival
    assert BENCH.greeting(log, TRUTH) == {"latency_ms": 1800, "arrived_after_near_ms": 900,
                                          "audio_after_arrived_ms": 900}
    assert BENCH.greeting(_log([]), TRUTH)["latency_ms"] is None


def test_first_full_image_after_the_arrival_or_before_it() -> None:
    small, full = [(t / 10, 256) for t in range(60)], [(6.0 + t / 10, 512) for t in range(20)]
    assert BENCH.first_full_image_ms(_log([(6.4, "visitor-arrived")], small + full)) == -400
    assert BENCH.first_full_image_ms(_log([(5.7, "visitor-arrived")], small + full)) == 300
    assert BENCH.first_full_image_ms(_log([(5.7, "visitor-arrived")], small)) is None


def test_walk_away_counts_from_the_last_face_or_word() -> None:
    log = _log([(6.4, "visitor-arrived"), (33.6, "visitor-left")])
    assert BENCH.walk_away(log, TRUTH) == pytest.approx(15.1)
    log.speech_end = 20.0  # the visitor still spoke after the last face (off camera)
    assert BENCH.walk_away(log, TRUTH) == pytest.approx(13.6)
