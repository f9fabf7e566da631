"""Each chunk of a reply is checked against the store facts before it is spoken.

`FactCheckedText` sits between the text cutter (`LLMTextProcessor` with the
first-clause aggregator) and the TTS. Each `AggregatedTextFrame` is a phrase or a
sentence the TTS is about to speak; `agent.fact_guard.FactGuard.check` reads the
facts in it:
- none, or all of them the file's: it goes on as it is;
- one the file does not hold (a name, a price, a floor): the chunk becomes
  `DONT_KNOW_REPLY` and the rest of that reply is dropped;
- a file number with its condition turned round ("under 300 dollars" where the file
  says "over"): the chunk becomes the file's own sentence, and the rest is dropped.

A reply that opens with the persona's name as a speaker label ("Sam: I'm sorry...",
copied from the persona's example dialogue) is spoken without it.

What was said before the bad chunk stays said (the TTS started on the first chunk);
the replacement goes to the TTS, the captions and the context alike, so the
history holds what the visitor heard.
"""

from __future__ import annotations

from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    AggregatedTextFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agent.fact_guard import DONT_KNOW_REPLY, FactGuard, Kind


class FactCheckedText(FrameProcessor):
    """Replaces a reply chunk that states a fact the file lacks (module docstring)."""

    def __init__(self, *, guard: FactGuard, dont_know: str = DONT_KNOW_REPLY,
                 **kwargs: Any) -> None:
        """`guard`: the facts of the knowledge file and persona; `dont_know`: said in
        place of a chunk with an invented fact."""
        super().__init__(**kwargs)
        self.guard = guard
        self._dont_know = dont_know
        self._replaced = False  # this reply had a chunk replaced: the rest is dropped
        self._first = True  # the next chunk opens a reply (where a speaker label comes)
        #: chunks checked, replaced as invented, replaced as flipped, dropped after one
        self.checked = 0
        self.invented = 0
        self.flipped = 0
        self.dropped = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Check each downstream `AggregatedTextFrame`; pass everything else on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, (LLMFullResponseStartFrame, LLMFullResponseEndFrame,
                              InterruptionFrame)):
            self._replaced = False
            self._first = True
        elif (isinstance(frame, AggregatedTextFrame) and direction == FrameDirection.DOWNSTREAM
              and not frame.skip_tts and frame.text.strip()):
            text = frame.text
            if self._first:
                text = self.guard.without_speaker_label(text)
                if not text.strip():
                    return  # the label alone: the reply opens with the next chunk
                self._first = False
            replacement = self._check(text)
            if replacement is None:
                return
            if replacement != frame.text:
                spoken = AggregatedTextFrame(text=replacement, text_type=frame.text_type,
                                             raw_text=replacement)
                spoken.append_to_context = frame.append_to_context
                frame = spoken
        await self.push_frame(frame, direction)

    def _check(self, text: str) -> str | None:
        """What to say for `text`: itself, its replacement, or None (dropped)."""
        if self._replaced:
            self.dropped += 1
            return None
        self.checked += 1
        verdict = self.guard.check(text)
        if verdict.ok:
            return text
        self._replaced = True
        if verdict.kind is Kind.FLIPPED and verdict.fact is not None:
            self.flipped += 1
            logger.info(f"{self}: condition turned round ({', '.join(verdict.missing)}) "
                        f"in {text!r}: said the fact instead")
            return verdict.fact
        self.invented += 1
        logger.info(f"{self}: not in the store facts ({', '.join(verdict.missing)}) "
                    f"in {text!r}: said the don't-know line instead")
        return self._dont_know

    def forget(self) -> None:
        """The conversation was forgotten: nothing is held."""
        self._replaced = False
        self._first = True
