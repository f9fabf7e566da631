"""Each sentence of a reply is checked against where its values may come from, before
any of it is spoken.

`FactCheckedText` sits between the text cutter (`LLMTextProcessor` with the
first-clause aggregator) and the TTS. The cutter releases a reply in chunks (a first
phrase of a few words, then longer ones); the checker holds a sentence's chunks until
the sentence ends, checks the whole sentence with `agent.answers.guard.FactGuard`, and
only then lets them go to the TTS, as they were cut:
- no value in it, or all of them allowed: the chunks go on;
- the first sentence states a value from nowhere (a name, a price, a floor): it becomes
  the don't-know line, and the rest of the reply is dropped;
- the first sentence only says the question back ("You can get a haircut here." with
  no fact of it: `echoes`): it becomes the don't-know line, and the rest is dropped;
- the first sentence answers a yes/no question against its fact ("Yes, ..." where the
  fact says "no, ..."), reads a fact out with its label ("Flu shots: walk-in ..."), or
  turns a fact's condition round: it becomes the fact, said as an answer, and the rest
  is dropped;
- a later sentence that fails: it and the rest are dropped; the reply ends at the
  sentence before, whole; so is a later sentence the reply ends inside (the LLM's
  token cap).
So nothing is cut after the TTS started on it: no reply stops mid-sentence, and none
has a don't-know line glued after half an answer.

Where values may come from (`sources`, kept by the knowledge routing for each turn):
the facts the turn was answered from and what the visitor said in this visit; the
persona lends its names. Without `sources` (no knowledge routing), the `guard` given.

A reply that opens with the persona's name as a speaker label ("Ada: I'm sorry...",
copied from the persona's example dialogue) is spoken without it. The replacement goes
to the TTS, the captions and the context alike, so the history holds what the visitor
heard.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
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

from agent.answers.guard import (
    DONT_KNOW_REPLY,
    FactGuard,
    Kind,
    TurnSources,
    contradicted,
    echoes,
)
from agent.answers.reading import relabelled

#: a chunk that ends a sentence: . ! ? (and a closing quote), not an abbreviation's dot
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s*$")
_ABBREVIATION_END = re.compile(r"\b(?:[ap]\.\s?m|e\.g|i\.e|mr|mrs|ms|dr|st|vs)\.\s*$",
                               re.IGNORECASE)


def ends_sentence(text: str) -> bool:
    """True when `text` ends a sentence ("... on the second floor."; not "... 9 a.m.")."""
    return _SENTENCE_END.search(text) is not None and _ABBREVIATION_END.search(text) is None


class FactCheckedText(FrameProcessor):
    """Holds each sentence of a reply until it is checked (module docstring)."""

    def __init__(self, *, guard: FactGuard, dont_know: str = DONT_KNOW_REPLY,
                 sources: Callable[[], TurnSources | None] | None = None,
                 visitor: Callable[[], Sequence[str]] | None = None,
                 persona: str = "", **kwargs: Any) -> None:
        """`guard`: the check used when no turn's sources are known (all the facts the
        LLM was given); `dont_know`: said in place of a sentence with a value from
        nowhere; `sources`: the current turn's sources (the knowledge routing's), read
        when a reply starts; `visitor`: where no turn's sources are known, what the
        visitor said in this visit (read when a reply starts), whose values `guard` lets
        be said back; `persona`: the persona's text, whose names are allowed."""
        super().__init__(**kwargs)
        self.guard = guard
        self._dont_know = dont_know
        self._sources = sources
        self._visitor = visitor
        #: `guard` with the visit's words, kept while they are the same (one build a turn)
        self._visit_guard: tuple[tuple[str, ...], FactGuard] = ((), guard)
        self._persona = persona
        self._turn_guard = guard
        self._question: str | None = None
        self._facts: tuple[str, ...] = ()
        self._held: list[AggregatedTextFrame] = []
        self._replaced = False  # this reply had a sentence replaced or dropped: the rest goes
        self._first = True  # the next chunk opens a reply (where a speaker label comes)
        self._first_sentence = True
        #: sentences checked, replaced as invented, replaced as flipped or contradicted,
        #: chunks dropped after one
        self.checked = 0
        self.invented = 0
        self.flipped = 0
        self.dropped = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Hold, check and release downstream `AggregatedTextFrame`s; pass the rest on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame):
            self._start_reply()
        elif isinstance(frame, LLMFullResponseEndFrame):
            self._drop_unfinished()
            await self._release_held(direction)
            self._start_reply()
        elif isinstance(frame, InterruptionFrame):
            self._held = []
            self._start_reply()
        elif (isinstance(frame, AggregatedTextFrame) and direction == FrameDirection.DOWNSTREAM
              and not frame.skip_tts and frame.text.strip()):
            await self._hold(frame, direction)
            return
        await self.push_frame(frame, direction)

    def _start_reply(self) -> None:
        """A new reply: its guard from the turn's sources, nothing held or replaced."""
        self._replaced = False
        self._first = True
        self._first_sentence = True
        sources = self._sources() if self._sources is not None else None
        if sources is None:
            self._turn_guard, self._question, self._facts = self._with_visit(), None, ()
        else:
            self._turn_guard = FactGuard.for_turn(sources.facts, self._persona, sources.visitor)
            self._question, self._facts = sources.question, sources.facts

    def _with_visit(self) -> FactGuard:
        """`guard` with what the visitor said in this visit (none read: `guard` itself)."""
        said = tuple(self._visitor()) if self._visitor is not None else ()
        if said != self._visit_guard[0]:
            self._visit_guard = (said, self.guard.with_visitor(said) if said else self.guard)
        return self._visit_guard[1]

    async def _hold(self, frame: AggregatedTextFrame, direction: FrameDirection) -> None:
        """Hold `frame` until its sentence ends, then check and release the sentence."""
        if self._replaced:
            self.dropped += 1
            return
        if self._first:
            text = self._turn_guard.without_speaker_label(frame.text)
            if not text.strip():
                return  # the label alone: the reply opens with the next chunk
            self._first = False
            if text != frame.text:
                frame = _chunk(frame, text)
        self._held.append(frame)
        if ends_sentence(frame.text):
            await self._release_held(direction)

    async def _release_held(self, direction: FrameDirection) -> None:
        """Check the held sentence; push its chunks, its replacement, or nothing."""
        held, self._held = self._held, []
        if not held or self._replaced:
            return
        sentence = " ".join(f.text.strip() for f in held)
        if not self._first_sentence and (spoken := self._unlabelled(sentence)) is not None:
            self.dropped += len(held) - 1  # said as an answer, and the reply goes on
            await self.push_frame(_chunk(held[0], spoken), direction)
            return
        replacement = self._check(sentence)
        first, self._first_sentence = self._first_sentence, False
        if replacement is None:
            for chunk in held:
                await self.push_frame(chunk, direction)
            return
        self._replaced = True
        self.dropped += len(held) - 1
        if first:
            await self.push_frame(_chunk(held[0], replacement), direction)

    def _drop_unfinished(self) -> None:
        """The reply ended (the LLM's token cap, or it stopped) inside a sentence after
        one was spoken: that sentence is dropped, so the reply ends at the one before,
        whole. A first sentence is said as it came: it is all the answer there is."""
        if not self._held or self._first_sentence or self._replaced:
            return
        if _SENTENCE_END.search(self._held[-1].text) is None:
            sentence = " ".join(f.text.strip() for f in self._held)
            logger.info(f"{self}: the reply ended inside {sentence!r}: dropped")
            self.dropped += len(self._held)
            self._held = []

    def _unlabelled(self, sentence: str) -> str | None:
        """A later sentence that reads a fact out with its label ("... Opening hours:
        9 to 5."), said as an answer instead; None when it reads none."""
        if self._question is None:
            return None
        answer = relabelled(sentence, self._facts, self._question)
        if answer is not None:
            self.flipped += 1
            logger.info(f"{self}: {sentence!r} reads a label: said the fact as an answer")
        return answer

    def _check(self, sentence: str) -> str | None:
        """None when `sentence` may be spoken; else what to say instead (said only for a
        reply's first sentence; a later one is dropped)."""
        self.checked += 1
        if self._first_sentence and self._question is not None:
            answer = (relabelled(sentence, self._facts, self._question)
                      or contradicted(sentence, self._question, self._facts))
            if answer is not None:
                self.flipped += 1
                logger.info(f"{self}: {sentence!r} reads a label or answers against its "
                            "fact: said the fact as an answer")
                return answer
            if echoes(sentence, self._question, self._facts):
                self.invented += 1
                logger.info(f"{self}: {sentence!r} only says the question back: "
                            "the don't-know line instead")
                return self._dont_know
        verdict = self._turn_guard.check(sentence)
        if verdict.ok:
            return None
        if verdict.kind is Kind.FLIPPED and verdict.fact is not None:
            self.flipped += 1
            logger.info(f"{self}: condition turned round ({', '.join(verdict.missing)}) "
                        f"in {sentence!r}: said the fact instead")
            return verdict.fact
        self.invented += 1
        logger.info(f"{self}: not in the turn's facts or the visitor's words "
                    f"({', '.join(verdict.missing)}) in {sentence!r}")
        return self._dont_know

    def forget(self) -> None:
        """The conversation was forgotten: nothing is held."""
        self._held = []
        self._replaced = False
        self._first = True
        self._first_sentence = True
        self._turn_guard, self._question, self._facts = self.guard, None, ()


def _chunk(like: AggregatedTextFrame, text: str) -> AggregatedTextFrame:
    """A chunk saying `text`, kept in the context as `like` would have been."""
    spoken = AggregatedTextFrame(text=text, text_type=like.text_type, raw_text=text)
    spoken.append_to_context = like.append_to_context
    return spoken
