"""A reply starts only once the server has heard that the visitor did not go straight on.

The turn can end on a pause the visitor then talks past ("Where are the restrooms?
[0.3 s] And where is the cafe?"). Barge-in (pipelines/turns/barge_in.py) holds a reply
back without a sound when it hears them go on: silero's single-window onset
(pipelines/turns/speech_onset.py) fires ~70 ms into their speech and pauses the reply
while it is still on its way. But a reply that is ready at the turn end (the eager
reply, pipelines/turns/speculative_turn.py, or a store answer) goes out at once, and a
visitor who goes on right there was heard only after its first syllables had left: a
real race, seen once in CI (tests/pipelines/test_withdrawn_reply.py).

`ReplyStartMargin` sits between TTS and the output (the face service, or ReplyPacer).
After each `UserStoppedSpeakingFrame` it holds the reply's frames until the pipeline
has carried `margin_secs` of the visitor's audio past the turn end, counted in
audio, not wall time: every chunk counted has been scored by the VAD upstream, so on
a loaded machine whose input runs late the margin stretches with it, and an onset in
those chunks has paused the reply before the first of its frames is released. Then the
held frames go on in their order; a reply that arrives after the margin passes
through untouched and costs nothing. An `InterruptionFrame` drops what is held (the
words went on: the reply is withdrawn and pipelines/turns/turn_join.py joins the
halves). `max_wait_secs` of wall time is a safety net should audio stop coming.

What it costs is measured by `held_secs` (how long each reply whose audio was ready
inside the margin waited: its text and TTS start often are, its audio rarely, since
piper takes longer than the margin) and by voice-to-voice with the
margin on and off (docs/LATENCY.md).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    SystemFrame,
    TTSAudioRawFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class ReplyStartMargin(FrameProcessor):
    """Hold a reply's frames until `margin_secs` of audio after the turn end was heard."""

    def __init__(self, *, margin_secs: float = 0.15, max_wait_secs: float = 0.6,
                 **kwargs: Any) -> None:
        """`margin_secs`: audio the visitor must have sent past the turn end before a
        reply may start (0: off); `max_wait_secs`: wall time after which held frames go
        on even if that audio never came."""
        super().__init__(**kwargs)
        self._margin = margin_secs
        self._max_wait = max(max_wait_secs, margin_secs)
        self._heard = 0.0  # audio seconds carried since the turn end
        self._open_at: float | None = None  # monotonic time of the turn end, while the margin runs
        self._held: deque[Frame] = deque()
        self._audio_held_since: float | None = None  # when the first held audio came
        self._timer: asyncio.Task[None] | None = None
        #: seconds the first audio of each delayed reply waited (audio after it: not listed)
        self.held_secs: list[float] = []
        self.counters = {"turn_ends": 0, "delayed": 0, "withdrawn": 0, "timed_out": 0}

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Count the visitor's audio after a turn end; hold downstream frames meanwhile."""
        await super().process_frame(frame, direction)
        if direction == FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, UserStoppedSpeakingFrame) and self._margin > 0:
            await self.push_frame(frame, direction)
            await self._start_margin()
        elif isinstance(frame, InputAudioRawFrame):
            await self.push_frame(frame, direction)
            if self._open_at is not None:
                self._heard += len(frame.audio) / (2 * frame.num_channels * frame.sample_rate)
                if self._heard >= self._margin:
                    await self._release()
        elif isinstance(frame, InterruptionFrame):
            if self._held:
                self.counters["withdrawn"] += 1
            self._held.clear()
            self._audio_held_since = None
            await self.push_frame(frame, direction)
        elif isinstance(frame, EndFrame | CancelFrame):
            await self._release(stop_timer=True)
            await self.push_frame(frame, direction)
        elif isinstance(frame, SystemFrame) or (self._open_at is None and not self._held):
            await self.push_frame(frame, direction)
        else:
            if isinstance(frame, TTSAudioRawFrame) and self._audio_held_since is None:
                self._audio_held_since = time.monotonic()
            self._held.append(frame)

    async def _start_margin(self) -> None:
        await self._release()  # a second turn end: what the first held goes on first
        self.counters["turn_ends"] += 1
        self._heard = 0.0
        self._open_at = time.monotonic()
        self._timer = self.create_task(self._time_out(self._open_at), name="reply-margin")

    async def _time_out(self, opened_at: float) -> None:
        await asyncio.sleep(self._max_wait)
        self._timer = None
        if self._open_at == opened_at:
            self.counters["timed_out"] += 1
            await self._release(stop_timer=False)

    async def _release(self, *, stop_timer: bool = True) -> None:
        """End the margin: the held frames go on, in their order."""
        if stop_timer and self._timer is not None:
            timer, self._timer = self._timer, None
            await self.cancel_task(timer)
        self._open_at = None
        if self._audio_held_since is not None:
            self.counters["delayed"] += 1
            self.held_secs.append(time.monotonic() - self._audio_held_since)
            self._audio_held_since = None
        while self._held:  # frames that come while these are pushed queue behind them
            await self.push_frame(self._held.popleft())

    async def cleanup(self) -> None:
        """Stop the safety-net timer."""
        await super().cleanup()
        if self._timer is not None:
            timer, self._timer = self._timer, None
            await self.cancel_task(timer)
