"""bench/face/face_cost.py's stage timer: each stage's own time, nested stages booked once."""

from __future__ import annotations

import time

from benchkit.face.stage_timer import StageTimer


def test_a_nested_stage_is_booked_to_itself_and_the_stages_add_up() -> None:
    timer = StageTimer()
    inner = timer.wrap("inner", lambda: time.sleep(0.02))

    def outer() -> None:
        time.sleep(0.01)
        inner()

    started = time.perf_counter()
    for _ in range(3):
        timer.wrap("outer", outer)()
    total = time.perf_counter() - started
    assert timer.calls == {"outer": 3, "inner": 3}
    assert timer.secs["inner"] >= 0.06 and 0.03 <= timer.secs["outer"] < 0.06
    assert abs(sum(timer.secs.values()) - total) < 0.01
    per_frame = timer.per_frame_ms(3)
    assert per_frame["inner"] >= 20.0
    timer.reset()
    assert not timer.secs and not timer.calls
