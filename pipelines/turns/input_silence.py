"""Missing client audio counts as silence, so a turn ends when the client goes quiet.

VAD and smart-turn measure silence in audio frames, not in wall-clock time: a
client that stops sending audio after its question (a push-to-talk button, a
browser that mutes the mic) leaves them waiting, and the turn only ended after
pipecat's idle timeouts, 5.5 s later instead of ~0.8 s. `InputSilenceFiller`
sits right after `transport.input()` and, once no `InputAudioRawFrame` has
arrived for `gap_secs`, pushes `chunk_secs` frames of digital silence at real-
time pace until real audio comes back. Downstream nothing can tell a quiet
client from a silent microphone. While `paused()` says so (a kiosk's client that
holds its quiet microphone back while nobody is there, sdk/mic_gate.py) nothing
is filled: that client has already sent its last turn's end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pipecat.frames.frames import CancelFrame, EndFrame, Frame, InputAudioRawFrame, StartFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class InputSilenceFiller(FrameProcessor):
    """Push silence frames downstream while the client sends no audio."""

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        gap_secs: float = 0.3,
        chunk_secs: float = 0.02,
        **kwargs: Any,
    ) -> None:
        """Fill gaps longer than `gap_secs` with `chunk_secs` frames at `sample_rate`.

        Args:
            sample_rate: the pipeline's input rate (what VAD and smart-turn expect).
            gap_secs: how long audio may be missing before silence starts: well
                above the arrival jitter of a loaded 2-core server (silence inserted
                into a late utterance would cut it for whisper), and still ends a
                turn within ~0.5 s of the client going quiet.
            chunk_secs: length of each silence frame (20 ms, like a microphone).
            **kwargs: passed to `FrameProcessor` (e.g. `name`).
        """
        super().__init__(**kwargs)
        if gap_secs <= 0 or chunk_secs <= 0:
            raise ValueError(f"gap_secs and chunk_secs must be > 0, got {gap_secs}, {chunk_secs}")
        self._sample_rate = sample_rate
        self._gap_secs = gap_secs
        self._chunk_secs = chunk_secs
        self._silence = bytes(2 * round(sample_rate * chunk_secs))  # PCM s16le mono
        self._last_audio_at = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        #: silence frames pushed so far (for tests and logs)
        self.frames_filled = 0
        #: while this returns True no silence is filled (None: always filled)
        self.paused: Callable[[], bool] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Note real audio, start the timer on StartFrame, stop it on End/Cancel."""
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._last_audio_at = time.monotonic()
        elif isinstance(frame, EndFrame | CancelFrame):
            await self._stop()
        await self.push_frame(frame, direction)
        if isinstance(frame, StartFrame) and self._task is None:
            # after StartFrame went downstream: nothing may precede it
            self._last_audio_at = time.monotonic()
            self._task = self.create_task(self._fill(), "silence_filler")

    async def cleanup(self) -> None:
        """Stop the timer with the processor."""
        await super().cleanup()
        await self._stop()

    async def _stop(self) -> None:
        """Cancel the timer task (idempotent: End, Cancel and cleanup all call it)."""
        if self._task is not None:
            task, self._task = self._task, None
            await self.cancel_task(task)

    async def _fill(self) -> None:
        """While audio is missing, push one silence frame every `chunk_secs`."""
        next_at: float | None = None  # when the next silence frame is due
        while True:
            now = time.monotonic()
            quiet_since = self._last_audio_at
            if now - quiet_since < self._gap_secs:
                next_at = None  # audio is flowing (or came back): wait for the next gap
                await asyncio.sleep(quiet_since + self._gap_secs - now)
                continue
            if self.paused is not None and self.paused():
                next_at = None
                await asyncio.sleep(self._gap_secs)
                continue
            if next_at is None or now - next_at > self._gap_secs:
                next_at = now  # a gap starts, or the loop fell far behind: no burst
            if now < next_at:
                await asyncio.sleep(next_at - now)
                continue
            await self.push_frame(
                InputAudioRawFrame(audio=self._silence, sample_rate=self._sample_rate,
                                   num_channels=1)
            )
            self.frames_filled += 1
            next_at += self._chunk_secs
