"""Voice-only sessions: hand the reply to the transport at real time, so it can pause.

piper synthesizes a sentence in a fraction of its duration, and pipecat's output
transport queues all of it; once queued, audio can only be dropped (an
interruption), never held. Backchannel-tolerant barge-in (pipelines/turns/barge_in.py)
needs a reply that can *pause* and play on, so in a session without the avatar
node (which already paces audio with its video clock) this processor sits
between TTS and the transport and releases the reply in 40 ms chunks, at most
`lead_secs` ahead of real time:

- `ReplyPauseFrame`: chunks stop at once. Mid-reply, silence goes out instead,
  as TTS audio, so the transport still sees the bot speaking (its turn is
  paused, not over) and nothing that was not heard is reported as spoken; a
  reply that was still being prepared is held back without a sound.
- `ReplyResumeFrame`: the reply plays on from where it paused.
- `InterruptionFrame`: the queued reply and the frames held behind it are dropped.

Frames that come behind reply audio (a sentence's `TTSTextFrame`, the
`TTSStoppedFrame`) wait until that audio has been released, so the assistant
context still holds only what was played.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import replace
from typing import Any

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    StartFrame,
    SystemFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipelines.wire.frames import ReplyPauseFrame, ReplyResumeFrame

CHUNK_SECS = 0.04


class ReplyPacer(FrameProcessor):
    """Real-time release of reply audio with pause/resume (see the module docstring)."""

    #: the face service declares the same: the pipeline needs one pausable output
    handles_reply_pause = True

    def __init__(self, *, lead_secs: float = 0.08, **kwargs: Any) -> None:
        """`lead_secs`: how far ahead of real time audio may be handed on (the
        transport's queue, and so the audio that still plays after a pause)."""
        super().__init__(**kwargs)
        self._lead = lead_secs
        self._queue: deque[Frame] = deque()
        self._wake = asyncio.Event()
        self._paused = False
        self._silence: TTSAudioRawFrame | None = None  # a chunk of zeros, while paused
        self._task: asyncio.Task[None] | None = None
        self._next_due = 0.0
        self._mid_reply = False  # reply audio went out and its TTS context has not ended
        self.counters = {"pauses": 0, "resumes": 0, "silence_chunks": 0}

    @property
    def paused(self) -> bool:
        """True while a reply is held for a possible backchannel."""
        return self._paused

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Queue reply audio and what follows it; act on pause, resume and interruption."""
        await super().process_frame(frame, direction)
        if direction == FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            if self._task is None:
                self._task = self.create_task(self._run(), name="reply-pacer")
        elif isinstance(frame, EndFrame | CancelFrame):
            await self._stop()
            while self._queue:
                queued = self._queue.popleft()
                if not isinstance(queued, TTSAudioRawFrame):
                    await self.push_frame(queued)
            await self.push_frame(frame, direction)
        elif isinstance(frame, ReplyPauseFrame):
            if not self._paused:
                self._paused = True
                self.counters["pauses"] += 1
            await self.push_frame(frame, direction)
        elif isinstance(frame, ReplyResumeFrame):
            if self._paused:
                self._paused = False
                self.counters["resumes"] += 1
                self._wake.set()
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            self._queue.clear()
            self._paused = self._mid_reply = False
            self._wake.set()
            await self.push_frame(frame, direction)
        elif isinstance(frame, SystemFrame):
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame):
            step = int(frame.sample_rate * CHUNK_SECS) * 2 * frame.num_channels
            for start in range(0, len(frame.audio), step):
                self._queue.append(replace(frame, audio=frame.audio[start:start + step]))
            self._wake.set()
        elif self._queue:
            self._queue.append(frame)  # behind reply audio: released after it
        else:
            await self.push_frame(frame, direction)

    async def _stop(self) -> None:
        if self._task is not None:
            await self.cancel_task(self._task)
            self._task = None

    async def cleanup(self) -> None:
        """Stop the release task."""
        await super().cleanup()
        await self._stop()

    async def _run(self) -> None:
        """Release one 40 ms chunk per 40 ms (silence while paused), `lead` ahead."""
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.monotonic()
            if self._next_due < now:
                self._next_due = now  # a new reply (or a late loop) starts from now
            if self._paused and not self._mid_reply:
                self._wake.clear()  # a reply not yet started waits, without a sound
                await self._wake.wait()
                continue
            if self._paused:
                if self._silence is None:
                    self._silence = self._silence_like(self._queue)
                self.counters["silence_chunks"] += 1
                await self.push_frame(replace(self._silence))
                self._next_due += CHUNK_SECS
            else:
                frame = self._queue.popleft()
                if not isinstance(frame, TTSAudioRawFrame):
                    if isinstance(frame, TTSStoppedFrame):
                        self._mid_reply = False
                    await self.push_frame(frame)
                    continue
                self._silence = None
                self._mid_reply = True
                await self.push_frame(frame)
                self._next_due += frame.num_frames / frame.sample_rate
            wait = self._next_due - self._lead - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

    @staticmethod
    def _silence_like(queue: deque[Frame]) -> TTSAudioRawFrame:
        """40 ms of zeros in the format of the queued reply."""
        audio = next((f for f in queue if isinstance(f, TTSAudioRawFrame)), None)
        rate = audio.sample_rate if audio is not None else 22050
        channels = audio.num_channels if audio is not None else 1
        zeros = bytes(int(rate * CHUNK_SECS) * 2 * channels)
        if audio is not None:
            return replace(audio, audio=zeros)
        return TTSAudioRawFrame(audio=zeros, sample_rate=rate, num_channels=channels)
