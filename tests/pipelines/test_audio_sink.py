"""The transport's audio device as the face's clock follows it, and the images it holds
(pipelines/face/audio_sink.py): audio that comes faster than it plays waits, a pause
lets the device run dry, and each held image goes out in order, not before its time."""

from __future__ import annotations

import asyncio
import time

from pipecat.frames.frames import Frame, TextFrame

from pipelines.face.audio_sink import AudioSink, HeldImages


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

    held = HeldImages(push)
    task = asyncio.create_task(held.run())
    now = time.monotonic()
    await held.offer(TextFrame("due"), now - 0.01)  # nothing waits: out at once
    assert [text for _, text in pushed] == ["due"]
    await held.offer(TextFrame("a"), now + 0.10)
    await held.offer(TextFrame("b"), now + 0.15)
    await held.offer(TextFrame("c"), now)  # due, but behind the two waiting: after them
    assert len(held) == 3
    await asyncio.sleep(0.3)
    assert [text for _, text in pushed] == ["due", "a", "b", "c"]
    times = dict((text, t) for t, text in pushed)
    assert times["a"] >= now + 0.10 and times["b"] >= now + 0.15
    await held.offer(TextFrame("dropped"), time.monotonic() + 0.1)
    held.clear()  # an interruption
    await asyncio.sleep(0.2)
    assert "dropped" not in [text for _, text in pushed]
    task.cancel()
