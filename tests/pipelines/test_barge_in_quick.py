"""The quick pause (pipelines/turns/speech_onset.py + barge_in.py): silero's window score pauses
the reply before the VAD commits, and an onset the VAD does not confirm plays the reply on.

Real silero (pipecat's analyzer, tapped), pipecat's user aggregator with our start
strategy, real piper speech paced like a microphone at 20 ms a chunk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    UserStartedSpeakingFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMUserAggregator,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from pipelines.turns.barge_in import BackchannelTolerantStartStrategy
from pipelines.turns.speech_onset import OnsetVADProcessor, WindowTapSileroVAD
from pipelines.wire.frames import ReplyPauseFrame, ReplyResumeFrame
from sdk.client import VoiceClient
from sdk.items import BotAudio
from tests.pipelines.conftest import LONG_REPLY_QUESTION

CHUNK = 640  # 20 ms at 16 kHz, in bytes
QUICK_PAUSE_SECS = 0.3


class Stamp(FrameProcessor):
    """Notes when each frame passes (the pipeline's output, on one clock)."""

    def __init__(self) -> None:
        """Empty log."""
        super().__init__()
        self.log: list[tuple[float, Frame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Note and pass on."""
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self.log.append((time.monotonic(), frame))
        await self.push_frame(frame, direction)

    def first(self, kind: type) -> float | None:
        """When the first frame of `kind` passed."""
        return next((t for t, f in self.log if isinstance(f, kind)), None)

    def onset(self) -> float:
        """When the first audio chunk with sound in it passed."""
        return next(t for t, f in self.log if isinstance(f, InputAudioRawFrame)
                    and np.abs(np.frombuffer(f.audio, np.int16)).max() > 1000)


def mic(pcm: bytes) -> list[Frame]:
    """0.5 s of silence, `pcm`, 0.6 s of silence: 20 ms chunks at real-time pace."""
    audio = bytes(16000) + pcm + bytes(19200)
    frames: list[Frame] = []
    for i in range(0, len(audio), CHUNK):
        frames += [InputAudioRawFrame(audio=audio[i:i + CHUNK], sample_rate=16000,
                                      num_channels=1), SleepFrame(sleep=0.02)]
    return frames


async def over_the_reply(pcm: bytes) -> tuple[Stamp, BackchannelTolerantStartStrategy]:
    """Play `pcm` into VAD -> user aggregator while the bot speaks."""
    strategy = BackchannelTolerantStartStrategy(quick_pause_secs=QUICK_PAUSE_SECS)
    vad = OnsetVADProcessor(vad_analyzer=WindowTapSileroVAD(
        params=VADParams(confidence=0.7, start_secs=0.1, stop_secs=0.2)))
    user = LLMUserAggregator(LLMContext(), params=LLMUserAggregatorParams(
        user_turn_strategies=UserTurnStrategies(start=[strategy])))
    strategy.attach(user)
    stamp = Stamp()
    await run_test(Pipeline([vad, user, stamp]), expected_down_frames=None,
                   frames_to_send=[BotStartedSpeakingFrame(), *mic(pcm)])
    return stamp, strategy


@pytest.fixture(scope="module")
def wait(say: Callable[[str], bytes]) -> np.ndarray:
    """piper's "Wait, where is the restroom?" from its first loud sample."""
    audio = np.frombuffer(say("Wait, where is the restroom?"), np.int16)
    return audio[np.flatnonzero(np.abs(audio) > 1000)[0]:]


async def test_a_short_sound_pauses_the_reply_briefly_and_it_plays_on(wait: np.ndarray) -> None:
    """0.1 s of a word (a cut-off syllable, a click of a voice): silero scores it as
    speech, the VAD never confirms it. The reply pauses and plays on after
    `quick_pause_secs`; no turn starts, nothing is interrupted."""
    stamp, strategy = await over_the_reply(wait[:1600].tobytes())
    onset = stamp.onset()
    paused, resumed = stamp.first(ReplyPauseFrame), stamp.first(ReplyResumeFrame)
    print(f"\npaused {None if paused is None else round((paused - onset) * 1000)} ms after "
          f"the onset, gap {strategy.pause_gaps}, counters {strategy.counters}")
    assert paused is not None and paused - onset < 0.2, "no quick pause"
    assert resumed is not None, "the reply did not play on"
    assert QUICK_PAUSE_SECS - 0.05 < resumed - paused < QUICK_PAUSE_SECS + 0.3
    for kind in (VADUserStartedSpeakingFrame, UserStartedSpeakingFrame, InterruptionFrame):
        assert stamp.first(kind) is None, f"{kind.__name__} for an unconfirmed onset"
    assert strategy.counters["quick_paused"] == 1 and strategy.counters["quick_resumed"] == 1
    assert len(strategy.pause_gaps) == 1


async def test_speech_pauses_the_reply_before_the_vad_start_which_confirms_it(
        wait: np.ndarray) -> None:
    """A real sentence: the pause comes from the window score, the VAD start ~0.2 s later
    takes over (the turn starts without an interruption, the transcript decides) and the
    reply does not play on in between."""
    stamp, strategy = await over_the_reply(wait.tobytes())
    onset = stamp.onset()
    paused = stamp.first(ReplyPauseFrame)
    vad_start = stamp.first(VADUserStartedSpeakingFrame)
    print(f"\npaused {None if paused is None else round((paused - onset) * 1000)} ms, "
          f"VAD start {None if vad_start is None else round((vad_start - onset) * 1000)} ms "
          f"after the onset; counters {strategy.counters}")
    assert paused is not None and vad_start is not None
    assert paused < vad_start and paused - onset < 0.2
    assert stamp.first(UserStartedSpeakingFrame) is not None
    assert stamp.first(ReplyResumeFrame) is None, "the reply played on over speech"
    assert stamp.first(InterruptionFrame) is None  # no transcript here: no verdict yet
    assert strategy.counters["quick_confirmed"] == 1 and strategy.counters["quick_resumed"] == 0


@pytest.mark.e2e
async def test_a_short_sound_over_a_served_reply_costs_a_short_gap_and_no_event(
        answering_server: Any, say: Callable[[str], bytes], wait: np.ndarray) -> None:
    """End to end (default server: the quick pause is on): the same cut-off syllable
    0.6 s into a reply. The reply pauses, plays on within ~0.3 s, the client is told
    nothing (no user-started-speaking, no bot-interrupted) and the LLM sees nothing."""
    question = say(LONG_REPLY_QUESTION)
    client = await VoiceClient.connect(answering_server.url, busy_retry_secs=60)
    session_id = client.welcome.session_id
    items: list[tuple[float, Any]] = []
    first_audio, done = asyncio.Event(), asyncio.Event()

    async def listen() -> None:
        async for item in client.receive():
            items.append((time.monotonic(), item))
            if isinstance(item, BotAudio):
                first_audio.set()

    listener = asyncio.create_task(listen())
    assert await client.speak_until(question, first_audio, timeout_secs=90), "no reply audio"
    await asyncio.sleep(0.6)
    sound_at = time.monotonic()
    await client.stream_pcm(wait[:1600].tobytes())
    quiet = asyncio.create_task(client.send_silence_until(done))
    await asyncio.sleep(3.0)
    done.set()
    await quiet
    voice = answering_server.registry.active[session_id]
    strategy = voice.barge_in
    counters, gaps = dict(strategy.counters), list(strategy.pause_gaps)
    users = [m for m in voice.context.get_messages() if dict(m)["role"] == "user"]
    await client.close()
    listener.cancel()

    kinds = [(t - sound_at, getattr(item, "type", "")) for t, item in items]
    voiced = [t - sound_at for t, item in items if isinstance(item, BotAudio)
              and np.abs(np.frombuffer(item.pcm, np.int16)).max(initial=0) > 300]
    after = [t for t in voiced if t > 0]
    longest = max((b - a for a, b in zip(after, after[1:], strict=False)), default=0.0)
    print(f"\ncounters {counters}, gaps {gaps}, longest silence in the reply after the "
          f"sound {longest * 1000:.0f} ms; events {[k for _, k in kinds if k != 'bot-audio']}")
    assert counters["quick_paused"] == 1 and counters["quick_resumed"] == 1, counters
    assert counters["paused"] == 0 and counters["interrupted"] == 0, counters
    assert len(gaps) == 1 and gaps[0] < 0.6
    assert not [k for t, k in kinds if t > 0 and k in ("user-started-speaking",
                                                       "bot-interrupted")]
    assert any(t > 1.0 for t in voiced), "the reply did not play on"
    assert len(users) == 1, users
