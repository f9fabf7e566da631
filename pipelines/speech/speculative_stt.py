"""Speech recognition that starts at the user's first pause, before the VAD says "stopped".

pipecat's segmented whisper service transcribes an utterance only once silero
has heard `vad_stop_secs` (200 ms) of silence, and whisper tiny.en then needs
~380 ms for any utterance (its encoder always runs a 30 s window), so both
costs add up on every turn. Here a level check on the incoming audio notices
the pause after `speculate_after_secs` (80 ms) and transcribes the utterance so
far, in parallel with the rest of the VAD's wait. When the VAD does end the
utterance and nothing loud came after the snapshot (only the silence that
ended it), that transcript is used as is; if the user went on, it is thrown
away and the whole utterance is transcribed as before. The text is the same
(what follows the snapshot is silence), only earlier: docs/LATENCY.md measures it.

A guess the user talked past is abandoned at once (pipelines/speech/whisper_abandon.py):
it stops before whisper's decoder, or before its encoder if that has not started, so
the guess at the next pause, which waits for the model, starts ~100-200 ms sooner.

The level check is relative to the utterance's own loudness, so a quiet
speaker and a loud one pause alike; it only decides *when* to guess, never
what was said, so a wrong guess costs CPU, not words.

Each guess starts with a `UserPausedFrame` downstream: the face gives way to whisper
from the visitor's pause, not only from the VAD's stop ~120 ms later.

Every guess made while the user is still inside the utterance also goes out as
an `InterimTranscriptionFrame` (the client's `user-transcription` with
`final: false`): live captions at each pause, at no extra cost.

With `eager_end_of_turn`, a guess that is ready while the VAD still waits is
also announced as pipecat's `EagerTranscriptionFrame`: the turn strategy
(pipelines/turns/speculative_turn.py) starts the LLM on it, and pipecat's speculation
gate holds the reply until the turn really ends. If the user goes on, an
`EagerEndOfTurnCancelFrame` withdraws it (the LLM stops, nothing was said, the
context never saw it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from typing import Any

import numpy as np
from loguru import logger
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    EagerTranscriptionFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.utils.time import time_now_iso8601

from pipelines.speech.stt import BundledWhisperSTTService
from pipelines.speech.whisper_abandon import WhisperRunAbandoned, abandonable
from pipelines.wire.frames import UserPausedFrame

#: a 20 ms frame is "quiet" below this share of the utterance's loudest frame...
QUIET_RELATIVE = 0.12
#: ...or below this absolute RMS (full scale 1.0)
QUIET_FLOOR = 0.004
#: no guess before the utterance has had a frame this loud (speech, not the lead-in)
SPEECH_LEVEL = 0.02


class SpeculativeWhisperSTTService(BundledWhisperSTTService):
    """`BundledWhisperSTTService` that guesses at the first pause (see the module doc)."""

    def __init__(self, *, speculate_after_secs: float = 0.08, eager_end_of_turn: bool = False,
                 **kwargs: Any) -> None:
        """`speculate_after_secs`: quiet that starts a guess; `eager_end_of_turn`: announce
        a guess that is ready before the VAD's stop, so the LLM can start on it."""
        super().__init__(**kwargs)
        self._speculate_after = speculate_after_secs
        self._eager = eager_end_of_turn
        self._eager_pending = False  # an EagerTranscriptionFrame is out, not yet resolved
        self._generation = 0  # counts pauses: a guess of an older pause is never announced
        self._abandon: threading.Event | None = None  # set: the current guess is not wanted
        self._reset_speculation()
        #: guesses started, used, discarded at the VAD's stop, announced early, withdrawn,
        #: and stopped before their end because the user went on (`abandoned`)
        self.speculation_counts = {"started": 0, "used": 0, "discarded": 0,
                                   "eager": 0, "eager_withdrawn": 0, "abandoned": 0}

    def _reset_speculation(self) -> None:
        self._abandon_guess()
        self._generation += 1
        self._loudest = 0.0
        self._quiet_samples = 0
        self._guess: asyncio.Task[list[Frame]] | None = None
        self._guess_stale = False  # loud audio came after the snapshot
        self._use_guess = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Reset per utterance, decide whether the guess stands when the VAD stops."""
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._reset_speculation()
            await self._withdraw_eager()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._use_guess = self._guess is not None and not self._guess_stale
            if self._use_guess:
                self._abandon = None  # committed: a new utterance must not stop it
            if self._guess is not None and self._guess_stale:
                self.speculation_counts["discarded"] += 1
            if not self._use_guess:
                await self._withdraw_eager()  # the committed text will not be the guess
            self._eager_pending = False  # resolved by the transcript that follows
        await super().process_frame(frame, direction)

    async def process_audio_frame(self, frame: InputAudioRawFrame, direction: FrameDirection) -> None:
        """Buffer as usual; watch the level for the first pause of an utterance."""
        await super().process_audio_frame(frame, direction)
        if not self._user_speaking or not frame.audio:
            return
        samples = np.frombuffer(frame.audio, np.int16).astype(np.float32) / 32768.0
        level = float(np.sqrt(np.mean(samples**2)))
        self._loudest = max(self._loudest, level)
        if level >= max(QUIET_FLOOR, QUIET_RELATIVE * self._loudest):
            self._quiet_samples = 0
            if self._guess is not None:
                self._guess_stale = True  # the user went on: the snapshot is a prefix
                self._abandon_guess()
                await self._withdraw_eager()
            return
        if self._loudest < SPEECH_LEVEL:
            return  # the VAD's lead-in before the first word: nothing to guess yet
        self._quiet_samples += len(samples)
        pause = self._quiet_samples >= self._speculate_after * self.sample_rate
        if pause and (self._guess is None or (self._guess_stale and self._guess.done())):
            pcm = bytes(self._audio_buffer) + self._trailing_silence()
            self._abandon = threading.Event()
            self._guess = self.create_task(
                self._transcribe(pcm, self._generation, self._abandon), name="speculative-stt")
            self._guess_stale = False
            self.speculation_counts["started"] += 1
            await self.push_frame(UserPausedFrame())  # the face yields from here

    def _abandon_guess(self) -> None:
        """The current guess's transcript will not be used: stop its whisper run early."""
        if self._abandon is not None and not self._abandon.is_set():
            self._abandon.set()

    async def _transcribe(self, pcm: bytes, generation: int,
                          abandon: threading.Event) -> list[Frame]:
        try:
            with abandonable(abandon):
                frames = [frame async for frame in BundledWhisperSTTService.run_stt(self, pcm)]
        except WhisperRunAbandoned:
            self.speculation_counts["abandoned"] += 1
            return []  # a stale guess: never used, nothing to caption
        heard = [f for f in frames if isinstance(f, TranscriptionFrame)]
        text = " ".join(f.text.strip() for f in heard).strip()
        if text and generation == self._generation and self._user_speaking:
            # the utterance so far, while it lasts: the client's live caption (final: false)
            await self.push_frame(InterimTranscriptionFrame(
                text, self._user_id, time_now_iso8601(), heard[0].language))
        # still inside the same pause, and the VAD has not ended the utterance yet
        if (self._eager and text and generation == self._generation and self._user_speaking
                and not self._guess_stale and not self._eager_pending):
            self._eager_pending = True
            self.speculation_counts["eager"] += 1
            await self.push_frame(EagerTranscriptionFrame(
                text, self._user_id, time_now_iso8601(), heard[0].language))
        return frames

    async def _withdraw_eager(self) -> None:
        """The user went on after an announced guess: the reply started on it must go."""
        if self._eager_pending:
            self._eager_pending = False
            self.speculation_counts["eager_withdrawn"] += 1
            await self.push_frame(EagerEndOfTurnCancelFrame())

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        """The guess when it stands, else a normal transcription of the whole utterance."""
        guess, use = self._guess, self._use_guess
        self._guess, self._use_guess = None, False
        if use and guess is not None:
            try:
                frames = await guess
            except Exception as error:  # the guess failed: fall back to the real thing
                logger.warning(f"{self}: speculative transcription failed: {error}")
            else:
                self.speculation_counts["used"] += 1
                for frame in frames:
                    yield frame
                return
        async for frame in super().run_stt(audio):
            yield frame
