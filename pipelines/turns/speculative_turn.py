"""Start the reply at the user's first pause; keep it only if the turn really ends there.

The end of a turn costs ~0.35 s after the last word: the VAD's 0.2 s of silence,
then smart-turn, then the transcript. The LLM then needs ~0.25 s for its first
token and ~75 ms a word until the first TTS chunk is complete. Here the reply
starts on the transcript taken at the first pause (pipelines/speech/speculative_stt.py
announces it as an `EagerTranscriptionFrame`), while the VAD and smart-turn are
still deciding. pipecat's speculation machinery does the rest: the LLM runs on a
provisional copy of the context, its `SpeculationGate` holds the reply until
the turn ends, and an `EagerEndOfTurnCancelFrame` (the user went on, or the
committed transcript differs) stops the LLM and drops the reply. The context
only ever records the committed transcript and what was spoken.

What it does not speculate on:
- a turn that already has a committed segment (smart-turn judged an earlier
  pause unfinished): the aggregator joins segments, the guess would not match;
- a turn the caller says must not be (`may_speculate`: a turn that continues
  the previous one is joined in the context first, pipelines/turns/turn_join.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    EagerTranscriptionFrame,
    Frame,
    TranscriptionFrame,
)
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop.eager_match_policy import NormalizedMatch

from pipelines.turns.turn_hold import HoldIncompleteTurnStopStrategy


class SpeculativeTurnStopStrategy(HoldIncompleteTurnStopStrategy):
    """Smart-turn + the hold on unfinished words, answering the first pause ahead."""

    def __init__(self, *, may_speculate: Callable[[], bool] | None = None,
                 speculation_timeout_secs: float = 5.0, **kwargs: Any) -> None:
        """`may_speculate`: asked before each speculation (None: always);
        `speculation_timeout_secs`: an unresolved speculation is withdrawn after
        this long, so a reply can never stay held (longer than the hold plus
        smart-turn's fallback, ~2.6 s)."""
        super().__init__(**kwargs)
        self._may_speculate = may_speculate
        self._timeout_secs = speculation_timeout_secs
        self._match = NormalizedMatch()
        self._speculation: UserTurnSpeculation | None = None
        self._speculation_timer: asyncio.Task[None] | None = None
        self._committed_segments = 0  # transcripts committed in this turn so far
        self.speculations = {"started": 0, "kept": 0, "missed": 0, "withdrawn": 0}

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        """Speculate on an eager transcript, forget a withdrawn one, count segments."""
        if isinstance(frame, EagerTranscriptionFrame):
            await self._speculate(frame.text)
        elif isinstance(frame, EagerEndOfTurnCancelFrame):
            if await self._take_speculation() is not None:
                self.speculations["withdrawn"] += 1
        elif isinstance(frame, TranscriptionFrame):
            self._committed_segments += 1  # before the base class may end the turn on it
        return await super().process_frame(frame)

    async def trigger_user_turn_stopped(self, *,
                                        enable_user_speaking_frames: bool | None = None) -> None:
        """End the turn; keep the speculative reply if it answered the committed text."""
        speculation = await self._take_speculation()
        if speculation is None:
            await super().trigger_user_turn_stopped(
                enable_user_speaking_frames=enable_user_speaking_frames)
            return
        if self._committed_segments <= 1 and self._match.matches(speculation.text, self._text):
            self.speculations["kept"] += 1
            # the reply is running; the turn end releases it (no second inference)
            await self.trigger_user_turn_finalized(
                enable_user_speaking_frames=enable_user_speaking_frames,
                confirms_speculation=True)
            return
        self.speculations["missed"] += 1
        logger.bind(transcript=True).debug(f"{self}: speculation missed ({speculation.text!r} vs {self._text!r})")
        await self.trigger_user_turn_speculation_cancelled()
        await super().trigger_user_turn_stopped(
            enable_user_speaking_frames=enable_user_speaking_frames)

    async def _reset(self) -> None:
        """A turn boundary: a speculation nobody resolved is withdrawn."""
        self._committed_segments = 0
        if await self._take_speculation() is not None:
            self.speculations["withdrawn"] += 1
            await self.trigger_user_turn_speculation_cancelled()
        await super()._reset()

    async def _speculate(self, text: str) -> None:
        if (self._speculation is not None or self._committed_segments > 0 or not text.strip()
                or (self._may_speculate is not None and not self._may_speculate())):
            return
        speculation = UserTurnSpeculation(text=text.strip())
        self._speculation = speculation
        self._speculation_timer = self.task_manager.create_task(
            self._expire(speculation), f"{self}::speculation-timeout")
        self.speculations["started"] += 1
        await self.trigger_user_turn_inference_triggered(speculation=speculation)

    async def _expire(self, speculation: UserTurnSpeculation) -> None:
        await asyncio.sleep(self._timeout_secs)
        self._speculation_timer = None
        if self._speculation is speculation:
            self._speculation = None
            self.speculations["withdrawn"] += 1
            await self.trigger_user_turn_speculation_cancelled()

    async def _take_speculation(self) -> UserTurnSpeculation | None:
        """The speculation in flight (now no longer), its timer stopped."""
        speculation, self._speculation = self._speculation, None
        if self._speculation_timer is not None:
            timer, self._speculation_timer = self._speculation_timer, None
            await self.task_manager.cancel_task(timer)
        return speculation
