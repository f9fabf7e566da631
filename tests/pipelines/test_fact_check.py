"""The per-chunk fact check in the voice pipeline (pipelines/speech/fact_check.py):
the LLM's streamed reply is cut by the real first-clause aggregator and checked chunk
by chunk before the TTS, on the shipped knowledge file and persona. A first true
sentence goes on as it came; a later invented one becomes the "I don't know" line and
the rest of that reply is dropped; a flipped condition becomes the file's sentence;
the next reply is checked afresh."""

from __future__ import annotations

import re

from pipecat.frames.frames import (
    AggregatedTextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_text_processor import LLMTextProcessor
from pipecat.tests.utils import run_test

from agent import PersonaSettings, build_system_prompt
from agent.fact_guard import DONT_KNOW_REPLY, FactGuard
from pipelines.speech.fact_check import FactCheckedText
from pipelines.speech.first_clause import FirstClauseAggregator

GUARD = FactGuard(build_system_prompt(PersonaSettings()))


def tokens(text: str) -> list[LLMTextFrame]:
    """A reply as an LLM streams it: a word (with its leading space) a frame."""
    return [LLMTextFrame(text=t) for t in re.findall(r"\s*\S+", text)]


def reply(text: str) -> list:
    return [LLMFullResponseStartFrame(), *tokens(text), LLMFullResponseEndFrame()]


async def spoken(*replies: str) -> tuple[list[str], FactCheckedText]:
    """The chunks the TTS would be given for these replies, in order."""
    checker = FactCheckedText(guard=GUARD)
    pipeline = Pipeline([LLMTextProcessor(text_aggregator=FirstClauseAggregator()), checker])
    frames = [frame for text in replies for frame in reply(text)]
    down, _ = await run_test(pipeline, frames_to_send=frames, expected_down_frames=None)
    return [f.text for f in down if isinstance(f, AggregatedTextFrame)], checker


async def test_a_true_first_sentence_is_spoken_and_an_invented_second_is_replaced() -> None:
    chunks, checker = await spoken(
        "The restrooms are on the second floor, next to the cafe. Our manager, John Smith, "
        "can show you the way. He is very kind.")
    said = " ".join(chunks)
    assert said.startswith("The restrooms are on the second floor")
    assert "next to the cafe" in said
    assert chunks[-1] == DONT_KNOW_REPLY
    assert "John" not in said and "kind" not in said  # the rest of that reply is dropped
    assert checker.invented == 1 and checker.dropped >= 1


async def test_an_invented_price_becomes_the_dont_know_line() -> None:
    chunks, _ = await spoken("A queen mattress costs four hundred ninety-nine dollars.")
    assert chunks == [DONT_KNOW_REPLY]


async def test_a_true_fact_and_small_talk_pass_as_they_came() -> None:
    text = "Hi! Delivery costs forty-nine dollars, and it is free over three hundred dollars."
    chunks, checker = await spoken(text)
    assert " ".join(chunks) == text
    assert checker.invented == checker.flipped == 0


async def test_a_flipped_condition_becomes_the_files_sentence() -> None:
    chunks, checker = await spoken("Delivery is free for orders under 300 dollars.")
    assert checker.flipped == 1
    assert any("over 300 dollars" in chunk for chunk in chunks)
    assert not any("under 300" in chunk for chunk in chunks)


async def test_the_next_reply_is_checked_afresh() -> None:
    chunks, _ = await spoken("The manager is Sarah Miller.", "You're welcome, have a nice day!")
    assert chunks[0] == DONT_KNOW_REPLY
    assert " ".join(chunks[1:]) == "You're welcome, have a nice day!"


async def test_the_personas_name_as_a_speaker_label_is_not_spoken() -> None:
    """The model copied the persona example's "Sam: ..." line: "Sam: I'm sorry, but I
    don't know." The name is not said; a file's label in a rule answer stays."""
    checker = FactCheckedText(guard=FactGuard.from_system_prompt(
        build_system_prompt(PersonaSettings())))
    pipeline = Pipeline([LLMTextProcessor(text_aggregator=FirstClauseAggregator()), checker])
    frames = [*reply("Sam: I'm sorry, but I don't know. Please ask a staff member."),
              *reply("Parking: free parking for 2 hours in the garage behind the store.")]
    down, _ = await run_test(pipeline, frames_to_send=frames, expected_down_frames=None)
    chunks = [f.text for f in down if isinstance(f, AggregatedTextFrame)]
    said = " ".join(chunks)
    assert "Sam" not in said and said.startswith("I'm sorry, but I don't know.")
    assert "Parking: free parking for 2 hours" in said
