"""Join a request that the end-of-turn cut in two back into one user message.

"I need apples, ... bananas, and some milk": a pause longer than the VAD's
silence and the turn hold ends the turn after "apples". The LLM starts on the
first half, the user goes on, and their second half interrupts the answer to
the first. Without this processor the context then reads

    user: I need apples.   assistant: (a cut-off start, or nothing)   user: bananas, and some milk.

and the bot answers the fragment. When the user starts speaking again within
`join_secs` of their previous turn's end, this processor treats the new turn as
the rest of the previous one: once it is pushed (its `LLMContextFrame`), the
two user messages are joined into one and whatever the bot managed to say in
between is dropped from the context, so the LLM answers the whole request once.
A person who answers the bot, or asks something new, starts after the bot has
spoken for a while (well past `join_secs`), and is never joined. Since replies
start within ~1 s, a barge-in can come inside `join_secs` too: a turn that starts
after the bot has already spoken for `heard_reply_secs` is an answer to what was
heard, not the rest of the request, and is not joined either.

Placed right after the user aggregator, on the shared `LLMContext`.
"""

from __future__ import annotations

import time
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    LLMContextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class SplitTurnJoiner(FrameProcessor):
    """Joins a user turn that continues the previous one (see the module docstring)."""

    def __init__(self, context: LLMContext, *, join_secs: float = 1.5,
                 heard_reply_secs: float = 0.6, **kwargs: Any) -> None:
        """`join_secs`: a turn starting this soon after the previous turn ended continues
        it, unless the bot's reply had been playing for `heard_reply_secs` by then."""
        super().__init__(**kwargs)
        self._context = context
        self._join_secs = join_secs
        self._heard_reply_secs = heard_reply_secs
        self._last_turn_end: float | None = None
        self._bot_started_at: float | None = None  # the reply to the last turn began
        #: index in the context of the user message the current turn continues
        self._continues: int | None = None
        self.joined = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Watch turn boundaries; join on the continuing turn's context frame."""
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame) and self._bot_started_at is None:
            self._bot_started_at = time.monotonic()  # pushed upstream by the output
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, UserStartedSpeakingFrame):
                self._on_turn_start()
            elif isinstance(frame, UserStoppedSpeakingFrame):
                self._last_turn_end = time.monotonic()
                self._bot_started_at = None
            elif (isinstance(frame, LLMContextFrame) and self._continues is not None
                  and not frame.speculation):
                self._join(self._continues)
                self._continues = None
        await self.push_frame(frame, direction)

    def forget(self) -> None:
        """The conversation was forgotten: no turn continues one from before."""
        self._last_turn_end = None
        self._bot_started_at = None
        self._continues = None

    @property
    def continuing(self) -> bool:
        """True while the current turn continues the previous one (it will be joined:
        a reply started on this turn's words alone would answer a fragment)."""
        return self._continues is not None

    def _on_turn_start(self) -> None:
        self._continues = None
        if self._last_turn_end is None:
            return
        now = time.monotonic()
        if now - self._last_turn_end > self._join_secs:
            return
        if self._bot_started_at is not None and now - self._bot_started_at > (
                self._heard_reply_secs):
            return  # the user heard the reply: an interruption or an answer, not the rest
        messages = self._context.get_messages()
        users = [i for i, m in enumerate(messages)
                 if isinstance(m, dict) and m.get("role") == "user"
                 and isinstance(m.get("content"), str)]
        if users:
            self._continues = users[-1]

    def _join(self, anchor: int) -> None:
        messages = list(self._context.get_messages())
        last = messages[-1] if messages else None
        if (anchor >= len(messages) - 1 or not isinstance(last, dict)
                or last.get("role") != "user" or not isinstance(last.get("content"), str)):
            return  # the continuing turn added no message of its own
        first = messages[anchor]
        assert isinstance(first, dict)
        joined = f"{str(first['content']).rstrip()} {str(last['content']).lstrip()}".strip()
        dropped = messages[anchor + 1:-1]
        logger.debug(f"{self}: joined a split turn: {joined!r} (dropped {len(dropped)} "
                     f"message(s) between the halves)")
        merged: Any = {**first, "content": joined}  # the same message type, new text
        self._context.set_messages([*messages[:anchor], merged])
        self.joined += 1
