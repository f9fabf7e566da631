"""A few words added after a question, cut off as a sentence of their own by the server's
recognizer at the speaker's pause ("Could I come in on Saturday afternoon. Like around
three?"), are read with the question, as the typed ", like around three?" is
(agent/answers/shape.py, `last_sentence`; docs/ANSWERS.md, section 24). A sentence that
tells something ("I'm late.") or asks its own question stays apart. The routing test runs
on a dance school's file written for it, through the real index and sentence encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import is_yes_no_question, last_sentence
from agent.sentence_embedding import SentenceEncoder

DANCE = """School name: Step Lively Dance School.
Opening hours: Monday to Friday 4 p.m. to 9 p.m.; Saturday 9 a.m. to 1 p.m.; closed on Sundays.
Changing rooms: the changing rooms are on the first floor.
"""


def test_a_few_words_after_a_question_are_read_with_it() -> None:
    heard = "Could I come in on Saturday afternoon. Like around three?"
    assert last_sentence(heard) == "Could I come in on Saturday afternoon, like around three?"
    assert is_yes_no_question(heard)
    assert last_sentence("Is the hall free? Maybe on Sunday?") == "Is the hall free, maybe on Sunday?"
    # a told sentence, thanks, or a question of its own: the last sentence, as before
    assert last_sentence("Where are the changing rooms? I'm late.") == "Where are the changing rooms?"
    assert last_sentence("Where are the changing rooms? Thanks.") == "Where are the changing rooms?"
    assert last_sentence("Is it open? What time?") == "What time?"


def test_the_afterthought_gets_the_answer_typed(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(DANCE.strip().splitlines(), encoder=encoder)
    typed = plan_turn(index, "Could I come in on Saturday afternoon, like around three?").reply
    assert typed is not None and typed.startswith("No"), typed
    assert plan_turn(index, "Could I come in on Saturday afternoon. Like around three?").reply == typed


def test_a_question_ending_in_a_clock_time_is_one_sentence() -> None:
    # "a.m.?": the time's dots end no sentence; its "m." is no afterthought
    assert last_sentence("Can I swim at 7 a.m.?") == "Can I swim at 7 am?"
    assert is_yes_no_question("Can I swim at 7 a.m.?")
    assert last_sentence("Is the pool open at 9 p.m.? My son swims late.") == (
        "Is the pool open at 9 pm?")
    assert last_sentence("Where is the pool? I'll come at 7 a.m.") == "Where is the pool?"
    assert last_sentence("I swim at 7 a.m. Is that OK?") == "I swim at 7 am, is that OK?"
