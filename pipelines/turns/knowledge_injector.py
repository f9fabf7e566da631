"""The store facts for the user's message, on the LLM's request and nowhere else.

`KnowledgeInjector` sits between `ContextWindow` and the LLM and follows
`agent.knowledge_retrieval.plan_turn` for each context going to the LLM whose
last message is the user's:
- a store question: the context goes on as a *copy* in which the session's first
  store question has its best fact written in front of it, on a line of its own
  ("Store fact: Pets: no pets, except service animals..."); later questions go
  as they are;
- small talk ("Hi there."): the same;
- anything else (off-topic, or a store question the facts do not cover): the LLM
  is not asked; the processor answers with `OUTSIDE_REPLY` itself, as an LLM
  response (start, text, end), so the text cutter, TTS and the assistant
  aggregator treat it like any reply. The 0.5B model, asked, told jokes,
  invented prices and repeated "I am a banana" (docs/LLM_CHOICE.md).

Why a copy, and why only the first store question:
- the session's `LLMContext` is shared with the aggregators and keeps only what
  was said, so the history stays clean;
- llama.cpp reuses the cached prompt up to the first changed token. When the
  first store question opens the session, system prompt + note is a prefix that
  does not depend on the question; the server's prompt-state cache (warmed with
  every note at start-up) restores it and the turn reads only the question: the
  fact costs no first-token time. A note behind earlier turns follows a history
  no cache has seen and is read on the turn (~10 ms a token, 0.1-0.3 s a fact):
  paid once when small talk came first, and not at all for later questions. The
  note is written again on later requests, at the same place, so the prefix they
  share with the last request stays whole.

A reply given without the LLM (the fixed reply, a rule answer) is history the LLM
has not read; after three in a row the next first token took 1.8 s instead of 0.3 s.
So once such a reply is stored (`reply_recorded`), the history is sent to the LLM
server to read without replying (`prefill`), while the reply is being spoken.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agent.knowledge_retrieval import KnowledgeIndex, first_note, plan_turn


def last_user_text(context: LLMContext) -> str | None:
    """The text of the context's last message if the user sent it (plain or in parts)."""
    messages = context.get_messages()
    return _text(messages[-1]) if messages else None


def previous_user_text(context: LLMContext) -> str | None:
    """The text of the user's message before the last one, if any (a follow-up's question)."""
    said = [text for m in context.get_messages() if (text := _text(m)) is not None]
    return said[-2] if len(said) >= 2 else None


def _text(message: Any) -> str | None:
    """A user message's text (plain or in parts); None for anything else."""
    if not isinstance(message, dict) or message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content
                           if isinstance(part, dict) and part.get("type") == "text")
    return content if isinstance(content, str) and content.strip() else None


def with_first_note(context: LLMContext, index: KnowledgeIndex) -> LLMContext:
    """`context` itself when none of its user messages gets a note, else a new context
    whose first user message that does has its note in front (`agent.knowledge_retrieval.
    first_note`; `context` is left as it was)."""
    messages = first_note(index, context.get_messages())
    if messages is None:
        return context
    return LLMContext(messages=messages, tools=context.tools, tool_choice=context.tool_choice)


class KnowledgeInjector(FrameProcessor):
    """Routes each LLM request by the store facts (see the module docstring)."""

    def __init__(self, *, index: KnowledgeIndex,
                 prefill: Callable[[LLMContext], Coroutine[Any, Any, None]] | None = None,
                 context: LLMContext | None = None, **kwargs: Any) -> None:
        """`index`: the knowledge file's facts (one per server, shared by sessions);
        `prefill`: has the LLM server read a context without replying
        (`LocalOpenAILLMService.prefill`), called by `reply_recorded` after a reply given
        without the LLM; None: the next turn reads such replies itself; `context`: the
        session's context, the one the aggregators write the reply into (a request at
        the user's first pause carries a provisional copy, which never gets the reply)."""
        super().__init__(**kwargs)
        self.index = index
        self._prefill = prefill
        self._session_context = context
        #: the messages of the last prefill (for logs and tests)
        self.prefilled_messages: list[Any] = []
        #: replies given without the LLM, and history prefills sent (for logs and tests)
        self.answered_without_llm = 0
        self.prefills = 0
        #: the fixed reply to a speculative request, said if its turn ends as guessed
        self._held_reply: str | None = None
        #: whether the session's context holds a reply the LLM has not read
        self._llm_behind = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Plan each downstream `LLMContextFrame` (a fixed reply, or the context with
        its first store question's note); pass everything else on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            question = last_user_text(frame.context)
            plan = (plan_turn(self.index, question, previous_user_text(frame.context))
                    if question is not None else None)
            if plan is not None and plan.reply is not None:
                if frame.speculation:
                    # the turn may not be over: say it once it ends (pipelines/turns/speculative_turn.py)
                    self._held_reply = plan.reply
                else:
                    await self._say(plan.reply)
                return
            if plan is not None:
                noted = with_first_note(frame.context, self.index)
                if noted is not frame.context:
                    frame = LLMContextFrame(context=noted, speculation=frame.speculation)
                self._llm_behind = False  # the LLM reads the whole history now (a guess too)
        elif isinstance(frame, UserStoppedSpeakingFrame) and self._held_reply is not None:
            reply, self._held_reply = self._held_reply, None
            await self.push_frame(frame, direction)
            await self._say(reply)  # the speculated turn ended as guessed
            return
        elif isinstance(frame, (EagerEndOfTurnCancelFrame, InterruptionFrame,
                                UserStartedSpeakingFrame)):
            self._held_reply = None  # the guess was withdrawn, or a new turn began
        await self.push_frame(frame, direction)

    def forget(self) -> None:
        """The conversation was forgotten: no held reply, nothing left to prefill."""
        self._held_reply = None
        self._llm_behind = False
        self.prefilled_messages = []

    def reply_recorded(self) -> None:
        """The assistant aggregator stored a reply (its `on_assistant_turn_stopped`).

        After a reply the LLM did not write, the history it will be sent next has a
        part it has never read: read it now, while the reply is spoken, with the note
        the next request will carry, so that request starts with a cached prefix. At
        most one prefill per reply; none when the LLM answered (it has read it all)."""
        context = self._session_context
        if not self._llm_behind or self._prefill is None or context is None:
            return
        self._llm_behind = False
        self.prefills += 1
        noted = with_first_note(context, self.index)
        self.prefilled_messages = list(noted.get_messages())
        self.create_task(self._prefill(noted), name="knowledge-prefill")

    async def _say(self, text: str) -> None:
        """A reply in the LLM's own frames, so everything downstream treats it as one."""
        self.answered_without_llm += 1
        self._llm_behind = True
        await self.push_frame(LLMFullResponseStartFrame())
        await self.push_frame(LLMTextFrame(text=text))
        await self.push_frame(LLMFullResponseEndFrame())
