"""The facts for the visitor's message, on the LLM's request and nowhere else.

`KnowledgeInjector` sits between `ContextWindow` and the LLM and follows
`agent.answers.routing.plan_turn` for each context going to the LLM whose last
message is the user's:
- a question about the facts: the context goes on as a *copy* in which each user
  message the facts answer has the facts found for it written in front of it, on a
  line of its own ("Facts: ..."). The LLM reads only these, never the whole file
  (the system prompt holds the persona alone), so a 200-fact file costs a turn what a
  20-fact one does;
- small talk ("Hi there."): the same;
- a question a fact answers in so many words, or one it cannot answer (off-topic, or
  asking for an amount no fact states): the LLM is not asked; the processor says the
  answer (agent/answers/reading.py) or the persona's line itself, as an LLM response
  (start, text, end), so the text cutter, the guard, the TTS and the assistant
  aggregator treat it like any reply.

What the reply may take its values from (`sources`: the facts the turn was answered
from, and what the visitor said in this visit) is kept for the fact guard
(pipelines/speech/fact_check.py) and forgotten with the visit (`forget`).

Why a copy: the session's `LLMContext` is shared with the aggregators and keeps only
what was said, so the history stays clean. Every request writes the same notes in the
same places, so each extends the one before and llama.cpp reuses the whole history; a
visit's first question with a one-fact note ends a prefix the server's prompt-state
cache holds (warmed with every note at start-up).

A reply given without the LLM is history the LLM has not read; after three in a row
the next first token took 1.8 s instead of 0.3 s. So once such a reply is stored
(`reply_recorded`), the history is sent to the LLM server to read without replying
(`prefill`), while the reply is being spoken.

The sentence encodings a turn's routing needs (20-44 ms a question on 2 cores) are made
in a worker thread first, with the turn's plan (`agent.answers.routing.prepare_turn`),
so the event loop only reads the plan: every session's audio, face and sends go on
meanwhile. The frame waits for it here, so frames keep their order.

A guess is judged by what *arrived* after it, not by what was handled after it: pipecat
handles a system frame (a withdrawal, a turn's end) ahead of data frames queued before
it, so a withdrawal may be handled while the guess still waits in the queue. Arrivals
are counted as they are queued (`queue_frame`) and each request carries the counts of
its own arrival: a guess withdrawn (or a visit forgotten) after it arrived is not
answered, and a guessed turn that ended after it arrived has its fixed reply said at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

from loguru import logger
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

from agent.answers.guard import TurnSources
from agent.answers.index import KnowledgeIndex
from agent.answers.lines import AnswerLines
from agent.answers.plan import TurnPlan
from agent.answers.routing import plan_turn, prepare_turn, user_text, with_notes

#: frames that withdraw a guessed turn's reply: the guess cancelled, or a new turn begun
WITHDRAWALS = (EagerEndOfTurnCancelFrame, InterruptionFrame, UserStartedSpeakingFrame)
#: requests stamped but never handled (dropped by an interruption) kept at most
ARRIVALS_KEPT = 8


class Arrival(NamedTuple):
    """The injector's counts when a request arrived: what came after it is the difference."""

    withdrawals: int
    turn_ends: int
    visits_forgotten: int


def last_user_text(context: LLMContext) -> str | None:
    """The text of the context's last message if the user sent it (plain or in parts)."""
    messages = context.get_messages()
    return user_text(messages[-1]) if messages else None


def user_texts(context: LLMContext) -> list[str]:
    """What the visitor said in this visit, oldest first (the context is emptied with
    the visit)."""
    return [text for m in context.get_messages() if (text := user_text(m)) is not None]


def with_fact_notes(context: LLMContext, index: KnowledgeIndex) -> LLMContext:
    """`context` itself when none of its user messages gets a note, else a new context
    whose user messages have the facts found for them in front (`agent.answers.routing.
    with_notes`; `context` is left as it was)."""
    messages = with_notes(index, context.get_messages())
    if messages is None:
        return context
    return LLMContext(messages=messages, tools=context.tools, tool_choice=context.tool_choice)


class KnowledgeInjector(FrameProcessor):
    """Routes each LLM request by the store facts (see the module docstring)."""

    def __init__(self, *, index: KnowledgeIndex,
                 prefill: Callable[[LLMContext], Coroutine[Any, Any, None]] | None = None,
                 context: LLMContext | None = None, lines: AnswerLines | None = None,
                 **kwargs: Any) -> None:
        """`index`: the knowledge file's facts (one per server, shared by sessions);
        `lines`: what the kiosk says where the file does not answer (default: the
        index's, the persona's);
        `prefill`: has the LLM server read a context without replying
        (`LocalOpenAILLMService.prefill`), called by `reply_recorded` after a reply given
        without the LLM; None: the next turn reads such replies itself; `context`: the
        session's context, the one the aggregators write the reply into (a request at
        the user's first pause carries a provisional copy, which never gets the reply)."""
        super().__init__(**kwargs)
        self.index = index
        self.lines = lines or index.lines
        #: where the turn's reply may take its values from (None: no turn yet this visit)
        self.sources: TurnSources | None = None
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
        #: guesses withdrawn (or turns begun) and turns ended, counted as they arrive
        #: (`queue_frame`), and visits forgotten: what happened after a request arrived
        self._withdrawals = 0
        self._turn_ends = 0
        self._visits_forgotten = 0
        #: each queued request's counts at its arrival, by the frame's id, until handled
        self._arrivals: dict[int, Arrival] = {}

    async def queue_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM,
                          callback: Any = None) -> None:
        """Count withdrawals and turn ends as they arrive, and stamp each request with the
        counts at its own arrival (see the module docstring: pipecat may handle a later
        system frame before an earlier request)."""
        if isinstance(frame, WITHDRAWALS):
            self._withdrawals += 1
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._turn_ends += 1
        elif isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            self._arrivals[id(frame)] = Arrival(self._withdrawals, self._turn_ends,
                                                self._visits_forgotten)
            while len(self._arrivals) > ARRIVALS_KEPT:
                del self._arrivals[next(iter(self._arrivals))]
        await super().queue_frame(frame, direction, callback)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Plan each downstream `LLMContextFrame` (a reply without the LLM, or the
        context with its facts noted); pass everything else on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            arrived = self._arrivals.pop(id(frame), None) or Arrival(
                self._withdrawals, self._turn_ends, self._visits_forgotten)
            question = last_user_text(frame.context)
            said = user_texts(frame.context)
            previous = said[-2] if len(said) >= 2 else None
            plan = None
            if question is not None:
                plan = await self._prepare(question, previous, said[:-1], frame.context)
            if self._visits_forgotten != arrived.visits_forgotten or (
                    frame.speculation and self._withdrawals != arrived.withdrawals):
                return  # nobody waits for this answer any more
            ended = self._turn_ends != arrived.turn_ends
            if plan is None and question is not None:
                plan = plan_turn(self.index, question, previous, lines=self.lines,
                                 visit=said[:-1])
            if plan is not None and question is not None:
                self.sources = TurnSources(question=question, facts=plan.facts,
                                           visitor=tuple(said))
            if plan is not None and plan.reply is not None:
                if frame.speculation and not ended:
                    # the turn may not be over: say it once it ends (pipelines/turns/speculative_turn.py)
                    self._held_reply = plan.reply
                else:
                    await self._say(plan.reply)
                return
            if plan is not None:
                noted = with_fact_notes(frame.context, self.index)
                if noted is not frame.context:
                    frame = LLMContextFrame(context=noted, speculation=frame.speculation)
                self._llm_behind = False  # the LLM reads the whole history now (a guess too)
        elif isinstance(frame, UserStoppedSpeakingFrame):
            if self._held_reply is not None:
                reply, self._held_reply = self._held_reply, None
                await self.push_frame(frame, direction)
                await self._say(reply)  # the speculated turn ended as guessed
                return
        elif isinstance(frame, WITHDRAWALS):
            self._held_reply = None  # the guess was withdrawn, or a new turn began
        await self.push_frame(frame, direction)

    async def _prepare(self, question: str, previous: str | None, visit: list[str],
                       context: LLMContext) -> TurnPlan | None:
        """The turn's plan, made with its sentence encodings in a worker thread
        (`prepare_turn`) while the event loop serves every session. None where the index
        has no encoder (nothing slow to move) or on a failure there: the caller then plans
        on the loop, as it did before."""
        if self.index.encoder is None:
            return None
        try:
            return await asyncio.to_thread(prepare_turn, self.index, question, previous,
                                           lines=self.lines, visit=visit,
                                           messages=list(context.get_messages()))
        except Exception as error:  # the routing on the loop decides alone, as before
            logger.warning(f"{self}: the turn's plan was not made ahead: {error!r}")
            return None

    def forget(self) -> None:
        """The conversation was forgotten: no held reply, nothing left to prefill, and
        nothing the last visitor said may be said back."""
        self._visits_forgotten += 1
        self._held_reply = None
        self.sources = None
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
        history = LLMContext(messages=list(context.get_messages()), tools=context.tools,
                             tool_choice=context.tool_choice)
        self.create_task(self._read_ahead(history, self._visits_forgotten),
                         name="knowledge-prefill")

    async def _read_ahead(self, history: LLMContext, visits: int) -> None:
        """`history` (the stored conversation, copied as the reply was recorded) with its
        notes, read by the LLM server. The notes are written in a worker thread: a
        question whose cosines the shared index has let go (`COSINES_KEPT`) is encoded
        again, and that must not stall every session's audio on the loop. A visit
        forgotten since the reply was recorded (`visits`: the count then) is not read:
        nothing of it goes on after it."""
        assert self._prefill is not None  # reply_recorded starts this only with one
        noted = await asyncio.to_thread(with_fact_notes, history, self.index)
        if self._visits_forgotten != visits:
            return
        self.prefilled_messages = list(noted.get_messages())
        await self._prefill(noted)

    async def _say(self, text: str) -> None:
        """A reply in the LLM's own frames, so everything downstream treats it as one."""
        self.answered_without_llm += 1
        self._llm_behind = True
        await self.push_frame(LLMFullResponseStartFrame())
        await self.push_frame(LLMTextFrame(text=text))
        await self.push_frame(LLMFullResponseEndFrame())
