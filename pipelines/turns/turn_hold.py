"""Do not end a turn on words that promise more ("I'd like a coffee and ...").

Smart-turn judges the end of a turn from the audio; a speaker who pauses after
"and", "with", "the" or a comma, to think or to read the next item of a list,
can sound finished to it, and the bot then answers half a request and is
interrupted by the rest. When the transcript ends that way, the end of the
turn is held for `hold_secs` more: if the user goes on, it is one turn; if not,
the answer comes `hold_secs` later than it would have. Turns that end on a
complete-looking word cost nothing.

Two tiers: a word no English sentence ends on ("the", "about", "and": however
whisper punctuates it) is held `unfinished_hold_secs` (1.6 s); a word or mark
that often but not always goes on ("is", a comma) `hold_secs` (0.8 s). Real
speakers pause longer than 0.8 s mid-sentence: "we had a long discussion
about. [1.3 s] how easy..." (an AMI meeting; docs/LATENCY.md), and
piper requests with a 1.0 s pause after "where the" or "for my" split at
0.8 s. LiveKit's agents wait up to 6 s when their turn model says the
sentence is unfinished; 1.6 s is what a turn that really ends on "the" costs.

A third case, `uncertain_hold_secs` (0.8 s): the words themselves say nothing, but
the transcript is not one to end a turn on. Whisper closes a sentence it heard
whole with a mark ("." "?" "!"); a transcript with none ("...you'll find that
there's a project") was cut off mid-thought or misheard. And whisper itself calls
a decode *failed* when its mean token log-probability is below -1.0
(pipelines/speech/transcript_confidence.py): far-field mumbling it turned into "Ebenezer.
At the miswais.", or a hallucination. On 31 real paused utterances
(docs/LATENCY.md) these were 4 of the 13 turns cut in two. Both
thresholds are whisper's own, not fitted; what they cost a clean turn is
measured in docs/LATENCY.md.

With `readings` (pipelines/turns/semantic_turn.py), the LLM's verdict on the whole
turn's words adds its own hold (`SemanticHolds`): the longer of it and the word
tiers' hold is waited, so the text model only ever keeps a turn open longer. A
transcript ending in "?" waits for neither. A reading not back when smart-turn
calls the turn complete is waited for up to `SemanticHolds.wait_secs`; after that
the word tiers decide alone.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pipecat.frames.frames import Frame, InterimTranscriptionFrame, TranscriptionFrame
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_stop.turn_analyzer_user_turn_stop_strategy import (
    TurnAnalyzerUserTurnStopStrategy,
)

from pipelines.speech.transcript_confidence import failed_decode
from pipelines.turns.semantic_turn import SemanticHolds, TurnReadings

#: last words after which English speakers almost always go on, whatever
#: punctuation whisper put after them ("...for the." is still unfinished)
CONTINUATION_WORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "with", "without", "to", "of", "for", "in", "on",
    "at", "from", "about", "into", "my", "your", "our", "their", "his", "her", "some", "any",
    "because", "than", "um", "uh", "er",
})
#: last words that promise more only when whisper did not close the sentence
#: ("My order number is" goes on; "Thank you." and "Yes, it is." do not)
OPEN_ENDED_WORDS = frozenset({
    "is", "are", "was", "were", "can", "could", "would", "will", "i", "i'm", "i'd", "we",
    "so", "then", "if", "like",
})
_TRAILING_MARKS = (",", ";", ":", "...", "\u2026", "-", "\u2014")


def cannot_end_here(text: str) -> bool:
    """True when a transcript ends on a word no sentence ends on ("...about the.")."""
    text = text.strip().lower()
    if not text or text.endswith(("?", "!")):
        return False
    words = re.findall(r"[a-z']+", text)
    return bool(words) and words[-1] in CONTINUATION_WORDS


def sounds_unfinished(text: str) -> bool:
    """True when a transcript ends on a comma or on a word that promises more."""
    text = text.strip().lower()
    if not text or text.endswith(("?", "!")):
        return False
    if text.endswith(_TRAILING_MARKS) or cannot_end_here(text):
        return True
    words = re.findall(r"[a-z']+", text)
    return bool(words) and words[-1] in OPEN_ENDED_WORDS and not text.endswith(".")


def unmarked(text: str) -> bool:
    """True when a transcript has words but does not end on . ? or ! (closing quotes
    and brackets aside): whisper did not hear a sentence end. A trailing ellipsis
    counts as unmarked here; `sounds_unfinished` already holds it as a trailing mark."""
    text = text.strip().rstrip("\"')\u201d\u2019")
    return bool(re.search(r"[A-Za-z0-9]", text)) and not text.endswith((".", "?", "!"))


class HoldIncompleteTurnStopStrategy(TurnAnalyzerUserTurnStopStrategy):
    """pipecat's smart-turn stop strategy, holding turns whose text sounds unfinished."""

    def __init__(self, *, hold_secs: float = 0.8, unfinished_hold_secs: float = 1.6,
                 uncertain_hold_secs: float = 0.0, readings: TurnReadings | None = None,
                 semantic: SemanticHolds | None = None, **kwargs: Any) -> None:
        """`hold_secs`: the hold after a word or mark that often goes on (0: no hold);
        `unfinished_hold_secs`: after one no sentence ends on; `uncertain_hold_secs`:
        after a transcript without a closing mark or from a failed decode (0: no
        hold); `readings`: the LLM's end-of-turn readings, held by `semantic`
        (None: words only; module doc)."""
        super().__init__(**kwargs)
        self._readings = readings
        self._semantic = semantic or SemanticHolds()
        self._segments: list[str] = []  # the turn's committed transcripts so far
        self._hold_secs = hold_secs
        self._unfinished_hold_secs = max(hold_secs, unfinished_hold_secs) if hold_secs > 0 else 0.0
        self._uncertain_hold_secs = uncertain_hold_secs
        self._hold_task: asyncio.Task[None] | None = None
        self._held = False  # the hold ran out: end the turn normally now
        self._failed_decode = False  # whisper deemed the last transcript's decode failed
        self.holds = {"held": 0, "continued": 0, "uncertain": 0, "semantic": 0,
                      "semantic_fallback": 0}

    @property
    def readings(self) -> TurnReadings | None:
        """The LLM's end-of-turn readings (their counts and costs), if on."""
        return self._readings

    def hold_secs_for(self, text: str, failed: bool = False) -> float:
        """How much longer a turn that smart-turn calls complete waits for more words,
        given its transcript and whether whisper deemed that decode failed (0: none)."""
        return self._hold_for(text, failed)[0]

    def _hold_for(self, text: str, failed: bool) -> tuple[float, str]:
        """The hold and its reason: "words" (the word tiers), "uncertain", or "" (none)."""
        if self._hold_secs > 0 and sounds_unfinished(text):
            return (self._unfinished_hold_secs if cannot_end_here(text) else self._hold_secs,
                    "words")
        if self._uncertain_hold_secs > 0 and (failed or unmarked(text)):
            return self._uncertain_hold_secs, "uncertain"
        return 0.0, ""

    def _turn_text(self, latest: str = "") -> str:
        """The turn's words: its committed transcripts, then `latest` (a guess)."""
        return " ".join(t for t in (*self._segments, latest.strip()) if t)

    def _start_reading(self, text: str) -> None:
        # a question never waits for its reading, so it is not read: the eager reply
        # started on the same words then has the LLM server to itself
        if self._readings is not None and not text.rstrip().endswith("?"):
            self._readings.start(text, self.task_manager.create_task)

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        """Start the LLM's reading on the guess at the first pause (module doc)."""
        if isinstance(frame, InterimTranscriptionFrame) and frame.text.strip():
            self._start_reading(self._turn_text(frame.text))
        return await super().process_frame(frame)

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        self._failed_decode = failed_decode(frame.result)
        if frame.text.strip():
            self._segments.append(frame.text.strip())
            self._start_reading(self._turn_text())
        await super()._handle_transcription(frame)

    def _semantic_hold(self, reading_secs: float | None) -> tuple[float, str]:
        """The longer of the word tiers' hold and the reading's (None: no reading)."""
        secs, reason = self._hold_for(self._text, self._failed_decode)
        if reading_secs is not None and reading_secs > secs:
            return reading_secs, "semantic"
        return secs, reason

    async def _maybe_trigger_user_turn_stopped(self) -> None:
        if self._held or not (self._turn_complete and self._text):
            await super()._maybe_trigger_user_turn_stopped()
            return
        if self._hold_task is not None:
            return  # a hold (or the wait for a reading) is already running
        text = self._turn_text()
        if self._readings is not None and not text.rstrip().endswith("?"):
            reading = self._readings.ready(text)
            if reading is None:  # not back yet: wait for it off the frame path
                self._hold_task = self.task_manager.create_task(
                    self._read_then_hold(text), f"{self}::read-then-hold")
                return
            secs, reason = self._semantic_hold(self._semantic.for_reading(reading))
        else:
            secs, reason = self._hold_for(self._text, self._failed_decode)
        if secs > 0:
            self._count_hold(reason)
            self._hold_task = self.task_manager.create_task(self._hold(secs), f"{self}::hold")
            return
        await super()._maybe_trigger_user_turn_stopped()

    def _count_hold(self, reason: str) -> None:
        self.holds["held"] += 1
        if reason in ("uncertain", "semantic"):
            self.holds[reason] += 1

    async def _read_then_hold(self, text: str) -> None:
        """Wait (bounded) for the reading of `text`, then hold as it says."""
        assert self._readings is not None
        reading = await self._readings.wait(text, self._semantic.wait_secs)
        if reading is None:
            self.holds["semantic_fallback"] += 1
        secs, reason = self._semantic_hold(
            None if reading is None else self._semantic.for_reading(reading))
        if secs > 0:
            self._count_hold(reason)
        await self._hold(secs)

    async def _hold(self, secs: float) -> None:
        try:
            if secs > 0:
                await asyncio.sleep(secs)
        except asyncio.CancelledError:
            return
        finally:
            self._hold_task = None
        self._held = True
        await super()._maybe_trigger_user_turn_stopped()

    async def cleanup(self) -> None:
        """The session ended: close the readings' connections too."""
        await super().cleanup()
        if self._readings is not None:
            await self._readings.aclose()

    async def _reset(self) -> None:
        """A turn boundary: forget its words and their readings."""
        self._segments = []
        if self._readings is not None:
            for task in self._readings.clear():
                await self.task_manager.cancel_task(task)
        await super()._reset()

    async def _discard_pending_end_of_turn(self) -> None:
        """The user spoke again (or a turn boundary): drop the hold too."""
        await super()._discard_pending_end_of_turn()
        self._held = False
        if self._hold_task is not None:
            self.holds["continued"] += 1
            await self.task_manager.cancel_task(self._hold_task)
            self._hold_task = None
