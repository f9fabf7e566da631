"""Of whisper's near hypotheses, one the file answers where the best gets no answer
(agent/answers/heard.py; docs/ANSWERS.md, section 25): a bakery's file written for it,
through the real index and sentence encoder. The hypotheses are shaped as whisper's beam
gave them on the tuning halves (a word misheard in the best, the right one just below).
Also which hearings a larger recognizer hears again: questions, not statements (section 28)."""

from __future__ import annotations

import pytest

from agent.answers.heard import MARGIN, TurnPlans, choose_heard, wants_second_opinion
from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import only_tells
from agent.sentence_embedding import SentenceEncoder

BAKERY = """Bakery name: Crumb and Crust.
Opening hours: Monday to Friday 7 a.m. to 6 p.m. Saturday 8 a.m. to 2 p.m. Closed on Sunday.
Cakes: birthday cakes are made to order, two days ahead, from 30 dollars.
Payment: we accept cash and all major cards.
Seating: ten tables inside, no seating outside.
"""


def _index(encoder: SentenceEncoder) -> KnowledgeIndex:
    return KnowledgeIndex(BAKERY.strip().splitlines(), encoder=encoder)


def test_a_near_hypothesis_the_file_answers_is_taken(encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    best, near = "How great are you open on a Friday?", "How late are you open on a Friday?"
    assert plan_turn(index, best).reply is None or plan_turn(index, best).reply == index.lines.dont_know
    said = plan_turn(index, near).reply
    assert said is not None and "6 p.m." in said
    assert choose_heard(index, [(best, -0.40), (near, -0.42)]) == near
    # 0.08 below: taken at MARGIN 0.1, not at section 25's 0.05
    assert choose_heard(index, [(best, -0.40), (near, -0.48)]) == near
    # the same words punctuated otherwise are no other hypothesis; too far below: the best
    assert choose_heard(index, [(best, -0.40), (best.rstrip("?") + ".", -0.41),
                                (near, -0.40 - MARGIN - 0.01)]) == best


def test_a_best_hypothesis_the_file_answers_is_kept(encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    best, near = "Do you take cards?", "Do you make cakes?"
    assert plan_turn(index, best).reply not in (None, index.lines.dont_know)
    assert choose_heard(index, [(best, -0.30), (near, -0.31)]) == best


def test_an_unknown_stays_declined_and_short_messages_stay_as_heard(
        encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    # a thing the file does not hold, a near hypothesis the file does not answer either
    unknown = ("Do you sell gluten free bread?", -0.35)
    assert choose_heard(index, [unknown, ("Do you sell blue ten free bread?", -0.36)]) == unknown[0]
    # a follow-up leans on the visit, which the choice does not read
    assert choose_heard(index, [("For how long?", -0.2), ("For how loan?", -0.21)]) == "For how long?"
    assert choose_heard(index, []) == ""


def test_a_statement_is_not_heard_again_a_garbled_question_is(encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    plans = TurnPlans(index)
    # the rules leave both to the LLM (with the cakes fact); only one may ask something
    told, garbled = "We are having a birthday party on Saturday.", "As the bakery make birthday cakes."
    for heard in (told, garbled):
        assert plans(heard).reply is None, heard
    assert not only_tells(garbled) and only_tells(told)
    assert wants_second_opinion(index, garbled, plan=plans)
    assert not wants_second_opinion(index, told, plan=plans)
    # a turn's hearing is planned once: the plan the choice made is the one read again
    assert plans(garbled) is plans(garbled)


@pytest.mark.parametrize("message", [
    "I lost my receipt.", "My card was declined.", "We're just looking, thanks.",
    "Thanks, that's all.", "My son is twelve. He's with me.",
])
def test_statements_tell(message: str) -> None:
    assert only_tells(message)


@pytest.mark.parametrize("message", [
    "I got Medicare, is that okay here.", "I'd like to know when you close.",
    "I'm looking for the lamps.", "Okay so what time do you close.", "Hi, where's the loo.",
    "I lost my scarf. Where is lost property.", "I lost my ticket?",
    # whisper's mishearing of a question's opening ("Will there actually be ...")
    "If I come in at night, we'll interact, truly be a pharmacist around to talk to.",
])
def test_questions_and_wants_may_ask(message: str) -> None:
    assert not only_tells(message)
