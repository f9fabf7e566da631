"""A reply waits, after a turn end, until the visitor's next audio says they did not go
straight on (pipelines/turns/reply_margin.py), on pipecat's real frames and pipeline."""

from __future__ import annotations

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from pipelines.turns.reply_margin import ReplyStartMargin

RATE = 16000


def _mic(secs: float = 0.02) -> InputAudioRawFrame:
    return InputAudioRawFrame(audio=bytes(int(RATE * secs) * 2), sample_rate=RATE, num_channels=1)


def _reply() -> list[Frame]:
    audio = TTSAudioRawFrame(audio=bytes(2 * 882), sample_rate=22050, num_channels=1)
    return [audio, TTSTextFrame("The restrooms", "word")]


def _kinds(frames: list[Frame] | tuple[Frame, ...]) -> list[str]:
    return [type(f).__name__ for f in frames
            if isinstance(f, InputAudioRawFrame | TTSAudioRawFrame | TTSTextFrame
                          | UserStoppedSpeakingFrame | InterruptionFrame)]


async def test_a_reply_ready_at_the_turn_end_waits_for_the_margin_of_audio() -> None:
    margin = ReplyStartMargin(margin_secs=0.1, max_wait_secs=5.0)
    frames = [UserStoppedSpeakingFrame(), *_reply(), SleepFrame(0.05),
              *[_mic() for _ in range(6)], SleepFrame(0.05)]
    down, _ = await run_test(margin, frames_to_send=frames, expected_down_frames=None)
    kinds = _kinds(down)
    # five 20 ms chunks make the 0.1 s margin: the reply goes on right behind the fifth
    assert kinds == ["UserStoppedSpeakingFrame", *["InputAudioRawFrame"] * 5,
                     "TTSAudioRawFrame", "TTSTextFrame", "InputAudioRawFrame"], kinds
    assert margin.counters["delayed"] == 1 and len(margin.held_secs) == 1
    assert margin.held_secs[0] > 0


async def test_a_reply_after_the_margin_passes_untouched() -> None:
    margin = ReplyStartMargin(margin_secs=0.04, max_wait_secs=5.0)
    frames = [UserStoppedSpeakingFrame(), _mic(), _mic(), SleepFrame(0.05), *_reply(),
              SleepFrame(0.05)]
    down, _ = await run_test(margin, frames_to_send=frames, expected_down_frames=None)
    assert _kinds(down) == ["UserStoppedSpeakingFrame", "InputAudioRawFrame",
                            "InputAudioRawFrame", "TTSAudioRawFrame", "TTSTextFrame"]
    assert margin.counters["delayed"] == 0 and margin.held_secs == []


async def test_an_interruption_in_the_margin_withdraws_the_held_reply() -> None:
    margin = ReplyStartMargin(margin_secs=0.1, max_wait_secs=5.0)
    frames = [UserStoppedSpeakingFrame(), *_reply(), SleepFrame(0.05), _mic(), _mic(),
              InterruptionFrame(), SleepFrame(0.05), *[_mic() for _ in range(6)],
              SleepFrame(0.05)]
    down, _ = await run_test(margin, frames_to_send=frames, expected_down_frames=None)
    kinds = _kinds(down)
    assert "TTSAudioRawFrame" not in kinds and "TTSTextFrame" not in kinds, kinds
    assert "InterruptionFrame" in kinds
    assert margin.counters["withdrawn"] == 1


async def test_held_frames_go_on_after_max_wait_if_no_audio_comes() -> None:
    margin = ReplyStartMargin(margin_secs=0.1, max_wait_secs=0.2)
    frames = [UserStoppedSpeakingFrame(), *_reply(), SleepFrame(0.4)]
    down, _ = await run_test(margin, frames_to_send=frames, expected_down_frames=None)
    assert _kinds(down) == ["UserStoppedSpeakingFrame", "TTSAudioRawFrame", "TTSTextFrame"]
    assert margin.counters["timed_out"] == 1  # released by the safety net, not by EndFrame
    assert margin.held_secs and margin.held_secs[0] >= 0.15


async def test_zero_margin_holds_nothing() -> None:
    margin = ReplyStartMargin(margin_secs=0.0)
    frames = [UserStoppedSpeakingFrame(), *_reply(), SleepFrame(0.05)]
    down, _ = await run_test(margin, frames_to_send=frames, expected_down_frames=None)
    assert _kinds(down) == ["UserStoppedSpeakingFrame", "TTSAudioRawFrame", "TTSTextFrame"]
    assert margin.counters["turn_ends"] == 0


