"""A request cut in two at a pause is joined back (pipelines/turns/turn_join.py), on pipecat's
real LLMContext and frames."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    LLMContextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import run_test

from pipelines.turns.turn_join import SplitTurnJoiner


class AddsTurn(FrameProcessor):
    """Plays the user aggregator: at each turn end the turn's text goes into the
    context (and, for the first turn, the bot's cut-off start of an answer)."""

    def __init__(self, context: LLMContext, texts: list[str], reply: str) -> None:
        super().__init__()
        self._context, self._texts, self._reply = context, list(texts), reply

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            self._context.add_message({"role": "user", "content": self._texts.pop(0)})
            await self.push_frame(frame, direction)
            if self._texts and self._reply:
                self._context.add_message({"role": "assistant", "content": self._reply})
            return
        await self.push_frame(frame, direction)


async def _two_turns(join_secs: float, gap_secs: float, reply: str,
                     bot_spoke_secs: float | None = None) -> list:
    context = LLMContext()
    joiner = SplitTurnJoiner(context, join_secs=join_secs)
    adder = AddsTurn(context, ["I need apples,", "bananas and some milk."], reply)
    from pipecat.pipeline.pipeline import Pipeline

    frames = [UserStartedSpeakingFrame(), UserStoppedSpeakingFrame(),
              LLMContextFrame(context=context)]
    await run_test(Pipeline([adder, joiner]), frames_to_send=frames,
                   expected_down_frames=None)
    if bot_spoke_secs is not None:  # the reply starts playing, the user comes in later
        await run_test(Pipeline([adder, joiner]), frames_to_send=[BotStartedSpeakingFrame()],
                       frames_to_send_direction=FrameDirection.UPSTREAM,
                       expected_down_frames=None, expected_up_frames=None)
        await asyncio.sleep(bot_spoke_secs)
    else:
        await asyncio.sleep(gap_secs)
    frames = [UserStartedSpeakingFrame(), UserStoppedSpeakingFrame(),
              LLMContextFrame(context=context)]
    # a fresh run keeps the joiner's memory of the first turn's end
    await run_test(Pipeline([adder, joiner]), frames_to_send=frames,
                   expected_down_frames=None)
    return [dict(m) for m in context.get_messages()]


async def test_a_turn_that_starts_right_after_the_last_one_continues_it() -> None:
    messages = await _two_turns(join_secs=1.5, gap_secs=0.2, reply="Apples are in aisle")
    assert messages == [{"role": "user", "content": "I need apples, bananas and some milk."}]


async def test_a_turn_after_the_window_is_a_new_turn() -> None:
    messages = await _two_turns(join_secs=0.1, gap_secs=0.3, reply="Apples are in aisle")
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]


async def test_a_turn_after_the_reply_was_heard_is_not_joined() -> None:
    """Inside the window, but the bot had been speaking for 0.8 s: a barge-in or an
    answer to what was said, so the cut reply and both questions stay apart."""
    messages = await _two_turns(join_secs=1.5, gap_secs=0.0, reply="Apples are in aisle",
                                bot_spoke_secs=0.8)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
