"""While the reply is thought up the face first holds its last image, then draws one
frame in a stride; a frame of the reply is always drawn. The window opens at the
user's first pause or the VAD's stop and keeps that start while it is extended."""

from __future__ import annotations

import time

import pytest

from pipelines.face.reply_state import ReplyState
from pipelines.face.thinking_frames import ThinkingFrames


def repeated(choice: ThinkingFrames, thought_for: float | None, frames: int = 10) -> list[int]:
    """The indices of `frames` idle frames that repeat the last image."""
    return [i for i in range(frames) if choice.repeats(i, speaking=False, thought_for=thought_for)]


def test_in_the_hold_no_idle_frame_is_drawn_and_after_it_one_in_the_stride() -> None:
    choice = ThinkingFrames(hold_secs=2.0, stride=2)
    assert repeated(choice, 0.0) == list(range(10))
    assert repeated(choice, 1.99) == list(range(10))
    assert choice.holding(1.0)
    assert repeated(choice, 2.0) == [1, 3, 5, 7, 9]  # the hold is over: one in two drawn
    assert not choice.holding(2.5)


def test_a_picture_already_stale_when_the_window_opened_is_drawn_anew_before_the_hold() -> None:
    choice = ThinkingFrames(hold_secs=2.0, stride=2)
    # a busy machine's last image was drawn 1.2 s before the window opened: the hold
    # on top of it would leave the face still for 3.2 s, so the next frame is drawn
    assert not choice.repeats(4, speaking=False, thought_for=0.3, still_for=1.5)
    # that new image is then held, as a fresh one is on a quiet machine
    assert choice.repeats(5, speaking=False, thought_for=0.34, still_for=0.04)
    assert choice.repeats(5, speaking=False, thought_for=1.9, still_for=1.9)
    assert choice.repeats(6, speaking=False, thought_for=0.3, still_for=0.8)  # not stale


def test_a_frame_of_the_reply_is_drawn_even_in_the_hold() -> None:
    choice = ThinkingFrames(hold_secs=2.0, stride=2)
    assert not choice.repeats(3, speaking=True, thought_for=0.5)
    assert not choice.repeats(3, speaking=True, thought_for=2.5)


def test_outside_the_window_every_frame_is_drawn() -> None:
    choice = ThinkingFrames(hold_secs=2.0, stride=3)
    assert repeated(choice, None) == []
    assert not choice.holding(None)


def test_no_hold_is_the_stride_from_the_start_and_stride_one_draws_every_frame() -> None:
    assert repeated(ThinkingFrames(hold_secs=0.0, stride=2), 0.0) == [1, 3, 5, 7, 9]
    assert repeated(ThinkingFrames(hold_secs=0.0, stride=1), 0.0) == []
    assert repeated(ThinkingFrames(hold_secs=1.0, stride=1), 1.5) == []


@pytest.mark.parametrize("hold, stride", [(-0.1, 2), (1.0, 0)])
def test_a_bad_choice_is_a_clear_error(hold: float, stride: int) -> None:
    with pytest.raises(ValueError, match="hold_secs|stride"):
        ThinkingFrames(hold_secs=hold, stride=stride)


def test_the_window_keeps_its_start_while_extended_and_opens_afresh_once_closed() -> None:
    reply = ReplyState()
    assert reply.thought_for() is None
    reply.think_for(0.5)  # whisper's guess at the user's first pause
    opened = reply.thinking_since
    time.sleep(0.02)
    reply.think_for(3.0)  # then the VAD's stop: the same window, longer
    assert reply.thinking_since == opened
    thought_for = reply.thought_for()
    assert thought_for is not None and thought_for >= 0.02
    assert reply.thinking_until >= time.monotonic() + 2.9

    reply.stop_thinking()  # the user speaks again
    assert not reply.thinking() and reply.thought_for() is None
    before = time.monotonic()
    reply.think_for(3.0)  # their next stop opens a new window
    assert reply.thinking_since >= before > opened
    assert reply.thought_for() is not None


def test_a_short_window_never_shortens_a_longer_one() -> None:
    reply = ReplyState()
    reply.think_for(3.0)
    until = reply.thinking_until
    reply.think_for(0.5)
    assert reply.thinking_until == until
