"""bench/kiosk/kiosk.py's images a second over replies: only the page's polls a reply was
heard through count, so the idle waits between replies (where repeats of the held image
are left out by design) do not pull the reply's rate down."""

from __future__ import annotations

from pathlib import Path

from tests.bench.scripts import load_script

KIOSK = load_script(Path(__file__).resolve().parents[2] / "bench" / "kiosk" / "kiosk.py",
                    "kiosk_bench_fps_in_replies")


def test_only_polls_heard_as_voice_count() -> None:
    # 1 s idle at 12.5 images a second, then 2 s of reply at 25, then 1 s idle again
    polls = [(0.0, 0, 0.0), (1000.0, 12, 0.0), (2000.0, 37, 1.0), (3000.0, 62, 2.0),
             (4000.0, 75, 2.0)]
    assert KIOSK.fps_in_replies(polls) == 25.0


def test_a_poll_mostly_silent_is_left_out() -> None:
    # a reply's last 0.3 s in a 1 s poll: not a reply's interval
    polls = [(0.0, 0, 0.0), (1000.0, 25, 1.0), (2000.0, 40, 1.3)]
    assert KIOSK.fps_in_replies(polls) == 25.0


def test_no_reply_heard_gives_none() -> None:
    assert KIOSK.fps_in_replies([(0.0, 0, 0.0), (500.0, 6, 0.0)]) is None
    assert KIOSK.fps_in_replies([]) is None
