"""The store facts for the user's latest message, on the LLM's request and nowhere else.

`KnowledgeInjector` sits between `ContextWindow` and the LLM and follows
`agent.knowledge_retrieval.plan_turn` for each context going to the LLM whose
last message is the user's:
- a store question: the context goes on untouched, or, with `note_facts` > 0
  (AVATAR_FORCING_LLM_RETRIEVAL_FACTS), as a *copy* with one system message
  appended: the best facts about that question;
- small talk ("Hi there."): the context goes on untouched;
- anything else (off-topic, or a store question the facts do not cover): the LLM
  is not asked; the processor answers with `OUTSIDE_REPLY` itself, as an LLM
  response (start, text, end), so the text cutter, TTS and the assistant
  aggregator treat it like any reply. The 0.5B model, asked, told jokes,
  invented prices and repeated "I am a banana" (docs/LLM_CHOICE.md).

Why a copy and why at the end:
- the session's `LLMContext` is shared with the aggregators and keeps only what
  was said, so the history stays clean and does not grow by a note every turn;
- llama.cpp reuses the cached prompt up to the first changed token: the system
  prompt and the history come first and are the same as last turn, so only the
  latest exchange and the note are read on each turn.
"""

from __future__ import annotations

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

from agent.knowledge_retrieval import KnowledgeIndex, plan_turn


def last_user_text(context: LLMContext) -> str | None:
    """The text of the context's last message if the user sent it (plain or in parts)."""
    messages = context.get_messages()
    message = messages[-1] if messages else None
    if not isinstance(message, dict) or message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content
                           if isinstance(part, dict) and part.get("type") == "text")
    return content if isinstance(content, str) and content.strip() else None


def with_note(context: LLMContext, note: dict[str, str]) -> LLMContext:
    """A new context: `context`'s messages, then `note` (`context` is left as it was)."""
    return LLMContext(
        messages=[*context.get_messages(), note],  # type: ignore[list-item]
        tools=context.tools,
        tool_choice=context.tool_choice,
    )


class KnowledgeInjector(FrameProcessor):
    """Adds the retrieved facts to each LLM request (see the module docstring)."""

    def __init__(self, *, index: KnowledgeIndex, **kwargs: Any) -> None:
        """`index`: the knowledge file's facts (one per server, shared by sessions)."""
        super().__init__(**kwargs)
        self.index = index
        #: replies given without the LLM (for logs and tests)
        self.answered_without_llm = 0
        #: the fixed reply to a speculative request, said if its turn ends as guessed
        self._held_reply: str | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Plan each downstream `LLMContextFrame` (note, as is, or a fixed reply);
        pass everything else on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            question = last_user_text(frame.context)
            plan = plan_turn(self.index, question) if question is not None else None
            if plan is not None and plan.reply is not None:
                if frame.speculation:
                    # the turn may not be over: say it once it ends (pipelines/speculative_turn.py)
                    self._held_reply = plan.reply
                else:
                    await self._say(plan.reply)
                return
            if plan is not None and plan.note is not None:
                frame = LLMContextFrame(context=with_note(frame.context, plan.note),
                                        speculation=frame.speculation)
        elif isinstance(frame, UserStoppedSpeakingFrame) and self._held_reply is not None:
            reply, self._held_reply = self._held_reply, None
            await self.push_frame(frame, direction)
            await self._say(reply)  # the speculated turn ended as guessed
            return
        elif isinstance(frame, (EagerEndOfTurnCancelFrame, InterruptionFrame,
                                UserStartedSpeakingFrame)):
            self._held_reply = None  # the guess was withdrawn, or a new turn began
        await self.push_frame(frame, direction)

    async def _say(self, text: str) -> None:
        """A reply in the LLM's own frames, so everything downstream treats it as one."""
        self.answered_without_llm += 1
        await self.push_frame(LLMFullResponseStartFrame())
        await self.push_frame(LLMTextFrame(text=text))
        await self.push_frame(LLMFullResponseEndFrame())
