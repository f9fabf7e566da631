"""The transport's audio device as the face's clock follows it, and the images it holds
(pipelines/face/audio_sink.py): audio that comes faster than it plays waits, a pause
lets the device run dry, and each held image goes out in order when pipecat's live
video schedule (pipelines/face/live_pacer.py, replayed here) will draw it at its time."""

from __future__ import annotations

import asyncio
import time

import pytest
from pipecat.frames.frames import Frame, TextFrame

from pipelines.face.audio_sink import AudioSink, HeldImages
from pipelines.face.live_pacer import LiveVideoPacer

FRAME = 0.04


def test_audio_pushed_on_time_never_waits_and_a_catch_up_waits_until_the_audio_stops() -> None:
    sink = AudioSink()
    for k in range(10):  # 40 ms frames pushed every 40 ms: each plays as it comes
        sink.pushed(0.04, now=100.0 + 0.04 * k)
        assert sink.held_secs(100.0 + 0.04 * (k + 1)) < 1e-9
    # a stall of 200 ms, then five frames pushed at once to catch up: they wait
    start = 100.0 + 0.04 * 10 + 0.2
    for _ in range(6):
        sink.pushed(0.04, now=start)
    assert abs(sink.held_secs(start) - 0.24) < 1e-9
    # pushed on time again, the wait stays: a real-time device never catches up
    for k in range(1, 20):
        sink.pushed(0.04, now=start + 0.04 * k)
    assert abs(sink.held_secs(start + 0.04 * 20) - 0.2) < 1e-9
    # an interruption drops what it held
    sink.cleared(start + 0.04 * 20)
    assert sink.held_secs(start + 0.04 * 20) == 0.0


async def test_held_images_go_out_in_order_at_their_time_and_cleared_ones_never() -> None:
    pushed: list[tuple[float, str]] = []

    async def push(frame: Frame) -> None:
        assert isinstance(frame, TextFrame)
        pushed.append((time.monotonic(), frame.text))

    held = HeldImages(push, LiveVideoPacer(FRAME))
    task = asyncio.create_task(held.run())
    now = time.monotonic()
    # a fresh schedule draws an image a frame after it comes: one due a frame from now
    # goes out at once
    await held.offer(TextFrame("due"), now + FRAME)
    assert [text for _, text in pushed] == ["due"]
    # the next slots are due 2 and 3 frames from now: images wanted later wait
    await held.offer(TextFrame("a"), now + 0.20)
    await held.offer(TextFrame("b"), now + 0.25)
    assert len(held) == 2
    await asyncio.sleep(0.35)
    assert [text for _, text in pushed] == ["due", "a", "b"]
    times = dict((text, t) for t, text in pushed)
    assert times["a"] >= now + 0.20 - 0.002 and times["b"] >= now + 0.25 - 0.002
    await held.offer(TextFrame("dropped"), time.monotonic() + 0.1)
    held.clear()  # an interruption
    await asyncio.sleep(0.2)
    assert "dropped" not in [text for _, text in pushed]
    task.cancel()


def test_the_pacer_replays_pipecats_live_video_schedule() -> None:
    """pipecat's `_video_is_live_handler`: the first image a frame after it comes, a
    burst on successive slots, a late image at once without its slot, a restart when
    more than five frames off."""
    pacer = LiveVideoPacer(FRAME)
    assert pacer.pushed(10.0) == pytest.approx(10.0 + FRAME)
    # two more at once: the next slots, each taken when the last is drawn
    assert pacer.pushed(10.01) == pytest.approx(10.0 + 2 * FRAME)
    assert pacer.pushed(10.01) == pytest.approx(10.0 + 3 * FRAME)
    # after a pause an image is late: drawn when it comes, the slot stays free
    assert pacer.pushed(10.25) == pytest.approx(10.25)
    assert pacer.draw_time(10.26) == pytest.approx(10.26)
    # far off the schedule: pipecat restarts it at the image
    assert pacer.pushed(11.0) == pytest.approx(11.0)
    assert pacer.pushed(11.0) == pytest.approx(11.0 + FRAME)
    pacer.reset()  # an interruption restarts pipecat's video task
    assert pacer.draw_time(20.0) == pytest.approx(20.0 + FRAME)


def test_the_plan_pushes_an_image_to_be_drawn_at_its_time_or_drops_it() -> None:
    pacer = LiveVideoPacer(FRAME)
    # fresh: drawn a frame after it comes, so an image wanted in three frames waits two
    plan = pacer.plan(now=10.0, show_at=10.0 + 3 * FRAME)
    assert not plan.drop and plan.push_at == pytest.approx(10.0 + 2 * FRAME)
    pacer.pushed(10.0)  # a burst at the start: on slots 1 and 2
    pacer.pushed(10.0)
    # the next slot (3 frames) is 1.5 frames later than the image's time: dropped, and
    # the next image (wanted a frame later) takes the slot, half a frame early
    assert pacer.plan(now=10.01, show_at=10.0 + 1.5 * FRAME).drop
    # it would be drawn on time pushed now, but only by pipecat holding it 2.75 frames: a
    # replay drifted from pipecat's schedule would show it that early, so it waits until a
    # frame before its time, and is drawn on its slot from there all the same
    plan = pacer.plan(now=10.01, show_at=10.0 + 3.4 * FRAME)
    assert not plan.drop and plan.push_at == pytest.approx(10.0 + 2.4 * FRAME)
    assert pacer.plan(now=plan.push_at, show_at=10.0 + 3.4 * FRAME).push_at == plan.push_at
    assert pacer.draw_time(plan.push_at) == pytest.approx(10.0 + 3 * FRAME)
