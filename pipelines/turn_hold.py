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
about. [1.3 s] how easy..." (AMI meeting, bench/turn_splits.py --real), and
piper requests with a 1.0 s pause after "where the" or "for my" split at
0.8 s. LiveKit's agents wait up to 6 s when their turn model says the
sentence is unfinished; 1.6 s is what a turn that really ends on "the" costs.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pipecat.turns.user_stop.turn_analyzer_user_turn_stop_strategy import (
    TurnAnalyzerUserTurnStopStrategy,
)

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


class HoldIncompleteTurnStopStrategy(TurnAnalyzerUserTurnStopStrategy):
    """pipecat's smart-turn stop strategy, holding turns whose text sounds unfinished."""

    def __init__(self, *, hold_secs: float = 0.8, unfinished_hold_secs: float = 1.6,
                 **kwargs: Any) -> None:
        """`hold_secs`: the hold after a word or mark that often goes on (0: no hold);
        `unfinished_hold_secs`: after one no sentence ends on (module doc)."""
        super().__init__(**kwargs)
        self._hold_secs = hold_secs
        self._unfinished_hold_secs = max(hold_secs, unfinished_hold_secs) if hold_secs > 0 else 0.0
        self._hold_task: asyncio.Task[None] | None = None
        self._held = False  # the hold ran out: end the turn normally now
        self.holds = {"held": 0, "continued": 0}

    async def _maybe_trigger_user_turn_stopped(self) -> None:
        if (self._hold_secs > 0 and not self._held and self._turn_complete and self._text
                and sounds_unfinished(self._text)):
            if self._hold_task is None:
                self.holds["held"] += 1
                secs = (self._unfinished_hold_secs if cannot_end_here(self._text)
                        else self._hold_secs)
                self._hold_task = self.task_manager.create_task(self._hold(secs),
                                                                f"{self}::hold")
            return
        await super()._maybe_trigger_user_turn_stopped()

    async def _hold(self, secs: float) -> None:
        try:
            await asyncio.sleep(secs)
        except asyncio.CancelledError:
            return
        finally:
            self._hold_task = None
        self._held = True
        await super()._maybe_trigger_user_turn_stopped()

    async def _discard_pending_end_of_turn(self) -> None:
        """The user spoke again (or a turn boundary): drop the hold too."""
        await super()._discard_pending_end_of_turn()
        self._held = False
        if self._hold_task is not None:
            self.holds["continued"] += 1
            await self.task_manager.cancel_task(self._hold_task)
            self._hold_task = None
