"""The sentence check in the voice pipeline (pipelines/speech/fact_check.py): the LLM's
streamed reply is cut by the real first-clause aggregator, and each sentence is held
until it ends and checked whole before any chunk of it goes to the TTS, on the shipped
knowledge file and persona. A first true sentence goes on as it was cut; a later
sentence with a value from nowhere is dropped with the rest, so the reply ends whole
(no cut-off, no don't-know line glued on); an invented first sentence becomes the
don't-know line; a flipped condition or a yes/no against its fact becomes the fact;
the next reply is checked afresh; a later sentence that reads a fact with its label is said
as an answer and the reply goes on. With the turn's sources, values come from the turn's
facts and the visitor's words in this visit only."""

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
from agent.answers.guard import DONT_KNOW_REPLY, FactGuard, TurnSources
from pipelines.speech.fact_check import FactCheckedText, ends_sentence
from pipelines.speech.first_clause import FirstClauseAggregator

GUARD = FactGuard(build_system_prompt(PersonaSettings()))


def tokens(text: str) -> list[LLMTextFrame]:
    """A reply as an LLM streams it: a word (with its leading space) a frame."""
    return [LLMTextFrame(text=t) for t in re.findall(r"\s*\S+", text)]


def reply(text: str) -> list:
    return [LLMFullResponseStartFrame(), *tokens(text), LLMFullResponseEndFrame()]


async def spoken(*replies: str, sources: TurnSources | None = None,
                 visitor: list[str] | None = None) -> tuple[list[str], FactCheckedText]:
    """The chunks the TTS would be given for these replies, in order (`visitor`: the
    visit's words, read as the pipeline reads its context when it routes nothing)."""
    checker = FactCheckedText(guard=GUARD, sources=(lambda: sources) if sources else None,
                              visitor=(lambda: visitor) if visitor is not None else None,
                              persona="You are Sam, the voice of the help kiosk.")
    pipeline = Pipeline([LLMTextProcessor(text_aggregator=FirstClauseAggregator()), checker])
    frames = [frame for text in replies for frame in reply(text)]
    down, _ = await run_test(pipeline, frames_to_send=frames, expected_down_frames=None)
    return [f.text for f in down if isinstance(f, AggregatedTextFrame)], checker


async def test_a_true_first_sentence_is_spoken_and_the_reply_ends_before_an_invented_one() -> None:
    chunks, checker = await spoken(
        "The restrooms are on the second floor, next to the cafe. Our manager, John Smith, "
        "can show you the way. He is very kind.")
    said = " ".join(chunks)
    assert said == "The restrooms are on the second floor, next to the cafe."
    assert len(chunks) > 1  # still cut for the TTS as the aggregator cut it
    assert DONT_KNOW_REPLY not in chunks  # nothing glued after a whole answer
    assert checker.invented == 1 and checker.dropped >= 1


async def test_no_chunk_of_a_first_sentence_is_spoken_before_it_is_checked() -> None:
    """An invented value at the end of the first sentence: none of its chunks went out
    before the check, so the visitor hears the don't-know line alone, never "No, there
    is no ..." cut off."""
    chunks, _ = await spoken("No, there is no branch in another city, but our Boston shop "
                             "on Elm Street is open.")
    assert chunks == [DONT_KNOW_REPLY]


async def test_a_later_sentence_the_reply_ends_inside_is_not_spoken() -> None:
    """The LLM stopped inside its second sentence (its token cap): the reply ends at the
    first, whole, not with "... You can also" cut off. A reply whose end is an
    abbreviation's dot is whole."""
    chunks, checker = await spoken("The restrooms are on the second floor, next to the "
                                   "cafe. You can also ask at the service desk for the")
    assert " ".join(chunks) == "The restrooms are on the second floor, next to the cafe."
    assert checker.dropped >= 1
    whole, _ = await spoken("The restrooms are on the second floor. The cafe is open until "
                            "7 p.m.")
    assert " ".join(whole).endswith("until 7 p.m.")


def test_a_sentence_ends_at_its_mark_not_at_an_abbreviation() -> None:
    assert ends_sentence("The cafe is open until 7 p.m. today.")
    assert ends_sentence("Is it free?") and ends_sentence("Yes!")
    assert not ends_sentence("We open at 9 a.m.") and not ends_sentence("We open at")


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


async def test_a_yes_against_its_fact_becomes_the_fact_said_as_an_answer() -> None:
    facts = ("Personal checks: no, we do not accept personal checks.",)
    sources = TurnSources(question="Can I pay with a personal check?", facts=facts,
                          visitor=("Can I pay with a personal check?",))
    chunks, checker = await spoken("Yes, you can pay with a personal check.", sources=sources)
    assert " ".join(chunks) == "No, we do not accept personal checks."
    assert checker.flipped == 1
    agreeing, _ = await spoken("No, we don't take checks.", sources=sources)
    assert " ".join(agreeing) == "No, we don't take checks."


async def test_a_fact_read_out_with_its_label_is_said_as_an_answer() -> None:
    """The model copied its note: "Flu shots: walk-in flu shots every weekday ..."."""
    fact = "Flu shots: walk-in flu shots every weekday from 10 a.m. to 4 p.m.; no appointment needed."
    sources = TurnSources(question="What hours can I come in for a flu jab?", facts=(fact,))
    chunks, _ = await spoken("Flu shots: walk-in flu shots every weekday from 10 a.m. to 4 p.m.",
                             sources=sources)
    said = " ".join(chunks)
    assert not said.startswith("Flu shots:") and "10 a.m. to 4 p.m." in said, said


async def test_a_later_sentence_read_with_its_label_is_said_as_an_answer_and_the_reply_goes_on(
) -> None:
    fact = "Flu shots: walk-in flu shots every weekday from 10 a.m. to 4 p.m.; no appointment needed."
    sources = TurnSources(question="When can I come in for a flu jab?", facts=(fact,))
    chunks, checker = await spoken(
        "We do those here. Flu shots: walk-in flu shots every weekday. Just come by.",
        sources=sources)
    said = " ".join(chunks)
    assert said.startswith("We do those here.") and "Flu shots:" not in said, said
    assert "10 a.m. to 4 p.m." in said and said.endswith("Just come by."), said
    assert checker.flipped == 1


async def test_values_come_from_the_turns_facts_and_the_visitors_words_only() -> None:
    """The visitor's own number, said earlier in the visit, may be said back; a true value
    of the file that the turn was not answered from may not (the LLM never saw it)."""
    visit = TurnSources(question="What was my locker number again?",
                        visitor=("My locker number is 42.", "What was my locker number again?"))
    back, _ = await spoken("Your locker number is 42.", sources=visit)
    assert back == ["Your locker number is 42."] or " ".join(back) == "Your locker number is 42."
    next_visitor = TurnSources(question="What was my locker number again?",
                               visitor=("What was my locker number again?",))
    refused, _ = await spoken("Your locker number is 42.", sources=next_visitor)
    assert refused == [DONT_KNOW_REPLY]
    restrooms = TurnSources(question="Where are the restrooms?",
                            facts=("Restrooms: on the second floor, next to the cafe.",))
    other_fact, _ = await spoken("The restrooms are on the second floor, and parking is free "
                                 "for 2 hours.", sources=restrooms)
    assert other_fact == [DONT_KNOW_REPLY]  # "2 hours" is the file's, not this turn's


async def test_without_the_routing_the_visitors_words_count_and_the_last_visitors_do_not(
) -> None:
    """Routing off (the whole file's guard): the visitor's own number in this visit may be
    said back; once the visit is forgotten (the context emptied) it may not."""
    visit = ["My locker number is 42.", "What was my locker number again?"]
    back, _ = await spoken("Your locker number is 42.", visitor=visit)
    assert " ".join(back) == "Your locker number is 42."
    refused, _ = await spoken("Your locker number is 42.", visitor=[])
    assert refused == [DONT_KNOW_REPLY]
    file_value, _ = await spoken("The restrooms are on the second floor, next to the cafe.",
                                 visitor=visit)
    assert " ".join(file_value) == "The restrooms are on the second floor, next to the cafe."


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


async def test_the_question_said_back_becomes_the_dont_know_line() -> None:
    facts = ("Masks: masks are available at the front desk.",)
    sources = TurnSources(question="Can I get a haircut here?", facts=facts,
                          visitor=("Can I get a haircut here?",))
    chunks, checker = await spoken("You can get a haircut here. It is quick.", sources=sources)
    assert " ".join(chunks) == DONT_KNOW_REPLY
    assert checker.invented == 1
    # an answer in the fact's words passes, though the question holds them too
    facts = ("Payment: we accept cash and Apple Pay.",)
    sources = TurnSources(question="Can I pay with Apple Pay?", facts=facts,
                          visitor=("Can I pay with Apple Pay?",))
    chunks, _ = await spoken("Yes, you can pay with Apple Pay.", sources=sources)
    assert " ".join(chunks) == "Yes, you can pay with Apple Pay."
    # small talk, with no fact in front of the model, is no echo
    sources = TurnSources(question="Hi there.", visitor=("Hi there.",))
    chunks, _ = await spoken("Hi there!", sources=sources)
    assert " ".join(chunks) == "Hi there!"
